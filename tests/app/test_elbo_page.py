"""The ELBO vs log p(x) page, driven through AppTest on small cached digits models."""

from __future__ import annotations

from app_helpers import plotly_specs, pretrained, settled

TOLERANCE = 0.01  # nats: L_5000 and the quadrature agree to about this on a 2-D digits model


def numbers(at) -> dict[str, float]:
    return {m.label: float(m.value) for m in at.metric}


def test_without_a_model_the_page_offers_to_train(open_app, empty_cache):
    at = open_app("elbo")
    assert at.button(key="train_now")


def test_one_image_orders_elbo_importance_and_quadrature(open_app):
    pretrained(epochs=5)
    at = open_app("elbo", epochs=5)
    n = numbers(at)
    elbo, iw, exact = n["ELBO (analytic KL)"], n["log p(x), importance k=5000"], n["log p(x), quadrature"]
    assert elbo < exact
    assert elbo <= iw + TOLERANCE and iw <= exact + TOLERANCE
    assert abs(n["gap = KL(q(z|x) ‖ p(z|x))"] - (exact - elbo)) < 2e-3
    specs = plotly_specs(at)
    assert specs["log_k_chart"]["layout"]["xaxis"]["type"] == "log"
    assert [t["type"] for t in specs["posterior_chart"]["data"]] == ["heatmap", "scatter", "scatter"]
    at.number_input(key="elbo_image").set_value(5).run()
    assert numbers(settled(at))["ELBO (analytic KL)"] != elbo


def test_the_test_set_average(open_app):
    pretrained(epochs=5)
    at = open_app("elbo", epochs=5)
    at.slider(key="elbo_repeats").set_value(2).run()
    at.radio(key="elbo_scope").set_value("a test-set average").run()
    at.select_slider(key="elbo_n").set_value(20).run()
    n = numbers(settled(at))
    assert n["ELBO (analytic KL)"] < n["log p(x), quadrature"]
    assert "posterior_chart" not in plotly_specs(at)


def test_more_than_two_dimensions_have_no_quadrature(open_app):
    pretrained(latent_dim=3, epochs=3)
    at = open_app("elbo", latent_dim=3, epochs=3)
    n = numbers(at)
    assert "log p(x), quadrature" not in n
    assert n["ELBO (analytic KL)"] <= n["log p(x), importance k=5000"] + TOLERANCE
    assert any("no exact reference" in i.value for i in at.info)
    # Measured from L_5000 < log p(x), the gap is a lower bound on KL(q ‖ p(z|x)), and says so.
    assert "gap = KL(q(z|x) ‖ p(z|x))" not in n
    assert n["gap L_5000 − ELBO ≤ KL(q(z|x) ‖ p(z|x))"] >= -TOLERANCE
    assert any("lower bound on KL(q(z|x) ‖ p(z|x))" in c.value for c in at.caption)
