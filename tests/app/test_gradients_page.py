"""The Gradient estimators page, driven through AppTest on a small cached digits model."""

from __future__ import annotations

from app_helpers import array, plotly_specs, pretrained, settled


def numbers(at, container: str) -> dict[str, float]:
    return {m.label: float(m.value.replace(",", "").rstrip("×")) for m in at.get("metric") if container in m.proto.id}


def traces(at, key: str) -> dict[str, list]:
    return {t["name"]: t for t in plotly_specs(at)[key]["data"]}


def test_variances_fall_and_the_means_agree(open_app):
    pretrained(epochs=5)
    at = settled(open_app("gradients", epochs=5))
    settled(at.select_slider(key="grad_repeats").set_value(20).run())
    spec = plotly_specs(at)["grad_variance"]
    assert spec["layout"]["xaxis"]["type"] == "log" and spec["layout"]["yaxis"]["type"] == "log"
    assert spec["layout"]["xaxis"]["ticktext"] == ["1", "10", "100", "500"], "ticks read aloud, not 1 2 5 10 2 5"
    lines = traces(at, "grad_variance")
    score = array(lines["score function (REINFORCE), measured"]["y"])
    reparam = array(lines["reparameterization, measured"]["y"])
    assert score[0] > 10 * reparam[0], "the score function is far noisier"
    assert score[-1] < score[0] / 50 and reparam[-1] < reparam[0] / 50, "averaging 500 samples divides by ~500"
    means = traces(at, "grad_means")
    s, r = means["score function (REINFORCE)"], means["reparameterization"]
    for a, b, ea, eb in zip(
        array(s["y"]), array(r["y"]), array(s["error_y"]["array"]), array(r["error_y"]["array"]), strict=True
    ):
        assert abs(a - b) <= 2.5 * (ea**2 + eb**2) ** 0.5  # error bars are 2 standard errors
    before = lines
    settled(at.selectbox(key="grad_coord").set_value(1).run())
    assert array(traces(at, "grad_variance")["reparameterization, measured"]["y"]) != array(
        before["reparameterization, measured"]["y"]
    )
    settled(at.number_input(key="grad_image").set_value(4).run())
    assert array(traces(at, "grad_means")["reparameterization"]["y"]) != array(r["y"])


def test_the_toy_matches_its_exact_gradient(open_app):
    pretrained(epochs=5)
    at = settled(open_app("gradients", epochs=5))
    settled(at.select_slider(key="grad_repeats").set_value(20).run())
    toy = {m.label: float(m.value) for m in at.metric if "exact" in m.label or "mean" in m.label}
    assert toy["exact ∂ELBO/∂μ"] == (1.5 - 0.0) / 0.5**2 - 0.0
    assert abs(toy["reparam mean ∂/∂μ"] - toy["exact ∂ELBO/∂μ"]) < 0.2
    exact = traces(at, "toy_means")["exact"]
    assert array(exact["y"]) == [6.0, -2.0]  # -1/(2 * 0.25) - 0 at log σ² = 0
    # At the exact posterior N(x / (1 + s²), s² / (1 + s²)) the gradient vanishes.
    at.slider(key="toy_mu").set_value(1.2).run()
    at.slider(key="toy_logvar").set_value(-1.6).run()
    toy = {m.label: float(m.value) for m in at.metric if "exact" in m.label}
    assert abs(toy["exact ∂ELBO/∂μ"]) < 1e-9 and abs(toy["exact ∂ELBO/∂log σ²"]) < 0.01
