"""Stored views (``views/stored.py``) and the view service (``views/service.py``): what a model
keeps equals a fresh computation on the same draws, a damaged piece is computed again, and a new
request of a page drops its stale pieces from the queue."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch

from vae_core import get_or_train, make_config
from vae_core.store.cache import lookup
from vae_core.vae.derivation import JensenView
from vae_core.vae.evaluate import KS, curve_piece, draw_seed, estimate_curve
from vae_core.vae.objectives import log_px_importance
from vae_core.views import service as service_module
from vae_core.views import stored as S
from vae_core.views import view_worker
from vae_core.views.service import ModelRef, ViewService, model_ref

AGREE = 1e-5  # nats: a piece computed in the worker process and here (thread counts differ)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("views-cache")
    config = make_config("digits", latent_dim=2, epochs=3)
    get_or_train(config, root=root)
    return lookup(config, root)


@pytest.fixture(scope="module")
def x(trained):
    return view_worker.test_inputs(trained.config.dataset, trained.config.train.binarize)


def scratch_ref(trained, tmp_path) -> ModelRef:
    """The model under a folder of the test's own, for a service whose worker is a stand-in: what
    it stores (made-up values) goes there, not into the shared model's entry."""
    ref = ModelRef(str(tmp_path), trained.config)
    ref.entry.mkdir(parents=True)
    return ref


def stand_in_service(work, trained, tmp_path, monkeypatch) -> tuple[ModelRef, ViewService]:
    """A service of background threads whose worker is ``work``, for the model under a scratch
    folder (``scratch_ref``) with nothing stored: every piece it is asked for is computed."""
    monkeypatch.setattr(view_worker, "work", work)
    ref = scratch_ref(trained, tmp_path)
    service = ViewService(workers=0)
    service._models[ref.key] = service_module._Model({})
    return ref, service


def wait_idle(service: ViewService, owner: str, timeout: float = 120.0) -> None:
    end = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if not service.pending(owner):
            return
        end.wait(0.05)
    raise AssertionError("the service never finished")


def test_any_grouping_of_k_repeats_the_whole_curve_exactly(trained, x):
    """Each (repeat, k) draws from its own seed: the stages the page streams in one by one are the
    same numbers as the whole curve at once, and the same as log_px_importance on that seed."""
    xs = x[:3]
    whole = estimate_curve(trained.model, xs, KS, 2)
    for r in range(2):
        pieced = np.concatenate([curve_piece(trained.model, xs, ks, r) for ks in S.STAGES])
        assert np.array_equal(pieced, whole[:, r])
    g = torch.Generator().manual_seed(draw_seed(0, 1, 50))
    direct = log_px_importance(trained.model, xs, 50, generator=g).mean().item()
    assert whole[KS.index(50), 1] == direct


def test_the_built_views_on_disk_equal_a_fresh_computation(trained, x):
    ref = model_ref(trained)
    service = ViewService(workers=1, threads=1)  # a real worker process
    try:
        missing = service.build(ref, trained, len(x))
        assert missing == len(S.standard_pieces(trained))
        wait_idle(service, f"build:{ref.key}")
    finally:
        service.close()
    stored = S.read_views(ref.entry, trained.config)
    assert set(stored) == {p.name for p in S.standard_pieces(trained)}
    checks = [
        S.numbers((3, 4)),
        S.curve((0, S.AVERAGE), "importance", 4, S.STAGES[-1]),
        S.curve((7, 8), "prior", 0, S.STAGES[0]),
        S.quadrature((0, S.AVERAGE)),
        S.posterior(2, min(e for e in trained.checkpoints if e)),
        S.posterior(2, None),
        S.jensen(3),
        S.gradients(1),
        S.codes(),
    ]
    for piece in checks:
        fresh, kept = S.compute(trained, x, piece), stored[piece.name]
        if piece.kind == "gradients":  # the same seeded samples of both estimators
            assert fresh.keys() == kept.keys(), piece
            for name in fresh:
                a, b = fresh[name], kept[name]
                assert a.ns == b.ns and np.allclose(a.mean, b.mean, rtol=1e-5, atol=AGREE), (piece, name)
                assert np.allclose(a.var_of_mean, b.var_of_mean, rtol=1e-4, atol=AGREE), (piece, name)
        elif isinstance(fresh, dict):
            assert fresh.keys() == kept.keys() and all(abs(fresh[k] - kept[k]) < AGREE for k in fresh), piece
        elif isinstance(fresh, JensenView):  # the same seeded draws; the identity's three computations
            assert np.allclose(fresh.log_w, kept.log_w, rtol=0, atol=AGREE), piece
            assert np.allclose(fresh.prior_w, kept.prior_w, rtol=0, atol=AGREE), piece
            a, b = fresh.identity, kept.identity
            assert (a.exact, a.source) == (b.exact, b.source), piece
            assert all(abs(u - v) < AGREE for u, v in ((a.log_px, b.log_px), (a.elbo, b.elbo), (a.kl, b.kl))), piece
        elif isinstance(fresh, np.ndarray):
            assert np.allclose(fresh, kept, rtol=0, atol=AGREE), piece
        else:  # a PosteriorView
            assert abs(fresh.kl - kept.kl) < AGREE and abs(fresh.log_px - kept.log_px) < AGREE, piece
            assert np.allclose(fresh.log_post, kept.log_post, rtol=0, atol=1e-4), piece
    # A second service (another server process, a restart) reads them instead of computing.
    again = ViewService(workers=0)
    assert again.build(ref, trained, len(x)) == 0
    assert again.want("someone", ref, checks).keys() == {p.name for p in checks}
    again.close()


def test_the_last_checkpoints_posterior_is_the_final_weights_one(trained, x):
    """A completed run's last checkpoint holds its final weights: its posterior goes by the final
    weights' name (the ELBO page's), computed and stored once; a checkpoint that differs keeps its own."""
    last = max(trained.checkpoints)
    assert S.posterior_epoch(trained, last) is None
    assert [S.posterior_epoch(trained, e) for e in (0, 1, None)] == [0, 1, None]
    assert S.compute(trained, x, S.posterior(4, None)).log_px == S.compute(trained, x, S.posterior(4, last)).log_px
    assert S.posterior(0, last).name not in {p.name for p in S.standard_pieces(trained)}
    changed = dataclasses.replace(trained, checkpoints={**trained.checkpoints, last: trained.checkpoints[0]})
    assert S.posterior_epoch(changed, last) == last
    assert S.posterior(0, last).name in {p.name for p in S.standard_pieces(changed)}


def test_the_worker_loads_a_model_when_a_page_first_asks_about_it(trained, monkeypatch):
    """The first want of a model has the worker load it and its test set (seconds on a busy core),
    once, ahead of any piece: a new image's first piece does not wait for them."""
    service = ViewService(workers=1, threads=1)
    sent = []
    submit = service._submit

    def spy(fn, *args, lane="interactive"):
        sent.append(fn.__name__)
        return submit(fn, *args, lane=lane)

    monkeypatch.setattr(service, "_submit", spy)
    try:
        ref = model_ref(trained)
        service.want("a", ref, [S.numbers((20, 21))])  # not among the stored views
        service.want("b", ref, [S.numbers((21, 22))])
        wait_idle(service, "a")
        wait_idle(service, "b")
        assert sent[0] == "prepare" and sent.count("prepare") == 1
        assert sent.count("work") == 2
    finally:
        service.close()
    view_worker._trained.cache_clear()
    view_worker.prepare(ref.root, ref.config)  # what the worker ran: both loads are kept
    assert view_worker._trained.cache_info().currsize == 1
    assert view_worker.test_inputs.cache_info().currsize >= 1


def test_a_damaged_or_foreign_views_file_is_computed_again(trained, x, tmp_path):
    entry = tmp_path / "entry"
    entry.mkdir()
    piece = S.numbers((0, 1))
    assert S.write_views(entry, trained.config, {piece.name: S.compute(trained, x, piece)}) == ""
    assert piece.name in S.read_views(entry, trained.config)
    assert S.read_views(entry, make_config("digits", latent_dim=3)) == {}, "another model's file is not read"
    (entry / S.VIEWS_FILE).write_bytes(b"not a torch file")
    assert S.read_views(entry, trained.config) == {}, "damage is a miss, never an error"
    assert S.write_views(entry, trained.config, {piece.name: 1.0}) == "" and S.read_views(entry, trained.config)


def test_a_folder_that_cannot_be_written_says_so(trained, tmp_path):
    """(As root a read-only folder is writable: a path through a file fails for anyone.)"""
    entry = tmp_path / "a-file"
    entry.write_text("")
    problem = S.write_views(entry, trained.config, {"x": 1.0})
    assert "could not be stored" in problem and str(entry) in problem


class Blocking:
    """A stand-in for the worker: records each piece, and holds the first one (or the one named
    ``hold``) until released."""

    def __init__(self, hold: str | None = None):
        self.calls: list[str] = []
        self.hold = hold
        self.release = threading.Event()
        self.started = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, root, config, piece):
        with self.lock:
            self.calls.append(piece.name)
            value = float(len(self.calls))
        if piece.name == self.hold or (self.hold is None and value == 1):
            self.started.set()
            assert self.release.wait(30)
        return value


def test_a_page_can_wait_a_moment_for_the_piece_it_shows(trained, monkeypatch, tmp_path):
    work = Blocking()
    ref, service = stand_in_service(work, trained, tmp_path, monkeypatch)
    piece = S.posterior(3, None)
    service.want("page", ref, [piece])
    assert work.started.wait(30)
    assert not service.wait(ref, [piece], timeout=0.2)  # still held: the page draws "refining"
    threading.Timer(0.2, work.release.set).start()
    assert service.wait(ref, [piece], timeout=30)  # released while waiting: woken, not polled
    assert service.known(ref, [piece]) == {piece.name: 1.0}
    service.close()


def test_a_new_request_drops_the_stale_pieces(trained, monkeypatch, tmp_path):
    work = Blocking()
    ref, service = stand_in_service(work, trained, tmp_path, monkeypatch)
    a, b, c, d = (S.curve((i, i + 1), "importance", 0, S.STAGES[1]) for i in range(4))
    service.want("lecturer", ref, [a, b, c])
    assert work.started.wait(30)  # a is running
    service.want("lecturer", ref, [d])  # another image: b and c are stale
    assert service.busy(ref, [a, d]) and not service.busy(ref, [b, c])
    work.release.set()
    wait_idle(service, "lecturer")
    assert work.calls == [a.name, d.name], "the running piece finishes; b and c never run"
    assert set(service.known(ref, [a, b, c, d])) == {a.name, d.name}
    service.close()


def test_a_page_never_waits_behind_the_build(trained, monkeypatch, tmp_path):
    """The build has a lane of its own: while one of its pieces runs (up to seconds on MNIST),
    a page's pieces are computed; a build piece a page wants moves to the page's lane."""
    background, later = S.curve((9, 10), "prior", 0, S.STAGES[2]), S.curve((8, 9), "prior", 0, S.STAGES[2])
    work = Blocking(hold=background.name)
    ref, service = stand_in_service(work, trained, tmp_path, monkeypatch)
    service.want("build:x", ref, [background, later], priority=service_module.BUILD)
    assert work.started.wait(30)  # the build's first piece is running, held
    page = [S.numbers((1, 2)), later]
    service.want("lecturer", ref, page)
    assert service.wait(ref, page, timeout=30), "the page's pieces came while the build's piece ran"
    assert work.calls == [background.name, page[0].name, later.name]
    work.release.set()
    wait_idle(service, "build:x")
    assert len(work.calls) == 3, "the build does not compute again what the page did"
    service.close()
    # Closed, no lane's thread is left running: one inside torch.save at the interpreter's exit aborts it.
    assert service._threads and not any(t.is_alive() for t in service._threads)
    assert {later.name, page[0].name} <= set(S.read_views(ref.entry, ref.config)), "stored before it closed"


def test_a_held_build_starts_nothing_while_a_pages_pieces_go_on(trained, monkeypatch, tmp_path):
    """While the server holds the build (a run trains on its cores), no build piece starts; a
    page's pieces, and a build piece a page asks for, are computed all the same. Released, the
    build goes on with what is left."""
    monkeypatch.setattr(service_module, "HOLD_POLL", 0.05)
    work = Blocking()
    work.release.set()
    ref, service = stand_in_service(work, trained, tmp_path, monkeypatch)
    training = threading.Event()
    training.set()
    service.hold_builds(training.is_set)
    background, wanted = S.curve((9, 10), "prior", 0, S.STAGES[2]), S.curve((8, 9), "prior", 0, S.STAGES[2])
    service.want("build:x", ref, [background, wanted], priority=service_module.BUILD)
    page = [S.numbers((1, 2)), wanted]
    service.want("lecturer", ref, page)
    assert service.wait(ref, page, timeout=30), "a page is never held"
    threading.Event().wait(0.5)  # ten looks of the held lane
    assert work.calls == [page[0].name, wanted.name] and service.busy(ref, [background])
    training.clear()
    wait_idle(service, "build:x")
    assert work.calls == [page[0].name, wanted.name, background.name]
    service.close()


def test_two_sessions_share_one_computation(trained, monkeypatch, tmp_path):
    work = Blocking()
    work.release.set()
    ref, service = stand_in_service(work, trained, tmp_path, monkeypatch)
    piece = S.quadrature((5, 6))
    service.want("one", ref, [piece])
    service.want("two", ref, [piece])
    wait_idle(service, "one")
    wait_idle(service, "two")
    assert work.calls == [piece.name]
    assert service.want("three", ref, [piece]) == {piece.name: 1.0}
    service.close()


def test_a_failed_piece_says_why_and_the_service_goes_on(trained, monkeypatch, tmp_path):
    def broken(root, config, piece):
        if piece.kind == "quadrature":
            raise RuntimeError("the grid does not fit")
        return 2.0

    ref, service = stand_in_service(broken, trained, tmp_path, monkeypatch)
    bad, good = S.quadrature((1, 2)), S.numbers((1, 2))
    service.want("one", ref, [bad, good])
    wait_idle(service, "one")
    assert service.errors(ref, [bad, good]) == {bad.name: "RuntimeError: the grid does not fit"}
    assert service.known(ref, [bad, good]) == {good.name: 2.0}
    service.close()
