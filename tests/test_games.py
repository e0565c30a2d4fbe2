import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import preference_matrices

from prefgame import games as G


def test_rps_is_the_cycle_paper_beats_rock():
    P = G.rock_paper_scissors().P
    rock, paper, scissors = 0, 1, 2
    assert P[paper, rock] == 1 and P[scissors, paper] == 1 and P[rock, scissors] == 1


def test_dice_are_computed_from_faces():
    P = G.intransitive_dice().P
    # A ≻ B ≻ C ≻ A with probability 5/9 each (no ties among these faces).
    assert P[0, 1] == pytest.approx(5 / 9) and P[1, 2] == pytest.approx(5 / 9)
    assert P[2, 0] == pytest.approx(5 / 9)
    # Ties count one half: a die against a copy of itself with shared faces.
    assert G.dice_preferences([(1, 2), (2, 3)])[0, 1] == pytest.approx((0 + 0.5 + 0 + 0) / 4)


def test_three_rater_types_mix_three_populations():
    eps = 0.1
    P = G.three_rater_types(eps).P
    a1, a2, a3 = 1 / 3 - eps, 1 / 3 + eps / 2, 1 / 3 + eps / 2
    assert P[1, 0] == pytest.approx(a1 + (1 - a1) / 2)  # type 1: y2 ≻ y1
    assert P[0, 2] == pytest.approx(a2 + (1 - a2) / 2)  # type 2: y1 ≻ y3
    assert P[2, 1] == pytest.approx(a3 + (1 - a3) / 2)  # type 3: y3 ≻ y2


def test_bradley_terry_and_random_games_are_valid_and_seeded():
    r = np.array([0.0, 1.0, -2.0])
    P = G.bradley_terry(r).P
    assert P[1, 0] == pytest.approx(1 / (1 + np.exp(-1.0)))
    a = G.random_intransitive(6, seed=3).P
    np.testing.assert_array_equal(a, G.random_intransitive(6, seed=3).P)
    assert not np.array_equal(a, G.random_intransitive(6, seed=4).P)
    batch = G.random_transitive(5, seed=1, contexts=4)
    assert batch.P.shape == (4, 5, 5) and batch.rho.tolist() == [0.25] * 4


def test_mixture_and_counts():
    m = G.mixture([G.rock_paper_scissors(), G.intransitive_dice()], [0.25, 0.75])
    np.testing.assert_allclose(
        m.P, 0.25 * G.rock_paper_scissors().P + 0.75 * G.intransitive_dice().P
    )
    wins = np.array([[0, 3, 0], [1, 0, 2], [0, 2, 0]])
    P = G.from_counts(wins, prior=0).P
    assert P[0, 1] == pytest.approx(0.75) and P[0, 2] == 0.5  # never compared → ½


@settings(max_examples=50, deadline=None)
@given(preference_matrices())
def test_valid_matrices_are_accepted(P):
    G.PreferenceGame(P)


@pytest.mark.parametrize(
    "P, message",
    [
        (
            [[0.5, 0.2, 0.3], [0.8, 0.5, 0.5], [1.0, 0.5, 0.5]],
            r"P\[0,2\] \+ P\[2,0\] = 1.3, must be 1",
        ),
        ([[0.5, 1.2], [-0.2, 0.5]], r"P\[0,1\] = 1.2, must be in \[0, 1\]"),
        ([[0.5, np.nan], [0.5, 0.5]], r"P\[0,1\] = nan, must be finite"),
        ([[0.4, 0.5], [0.5, 0.5]], r"P\[0,0\] = 0.4, must be 1/2"),
        ([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]], r"must be square"),
        ([0.5, 0.5], r"square matrix"),
        ([["a", "b"], ["c", "d"]], r"numeric"),
    ],
)
def test_invalid_matrices_are_rejected_by_name(P, message):
    with pytest.raises(ValueError, match=message):
        G.PreferenceGame(P)


def test_batch_errors_name_the_context():
    P = np.stack([G.rock_paper_scissors().P, G.rock_paper_scissors().P])
    P[1, 0, 1] = 0.7
    with pytest.raises(ValueError, match=r"P\[1\]\[0,1\] \+ P\[1\]\[1,0\] = 1.7"):
        G.PreferenceGame(P)


@pytest.mark.parametrize(
    "mu, message",
    [
        ([0.5, 0.5, 0.0], r"mu\[2\] = 0, must be > 0 \(full support\)"),
        ([0.5, 0.6, 0.1], r"sum of mu = 1.2, must be 1"),
        ([0.5, 0.5], r"mu has 2 entries but the game has 3 actions"),
        ([0.5, np.inf, 0.1], r"must be finite"),
    ],
)
def test_invalid_reference_policies_are_rejected(mu, message):
    with pytest.raises(ValueError, match=message):
        G.PreferenceGame(G.rock_paper_scissors().P, mu)


def test_mu_shape_must_agree_with_a_batch():
    P = np.stack([G.rock_paper_scissors().P] * 2)
    with pytest.raises(ValueError, match=r"mu must have shape"):
        G.PreferenceGame(P, np.full((3, 3), 1 / 3))


def test_unknown_game_lists_known_games():
    with pytest.raises(ValueError, match="unknown game 'nope'; known games: .*rps"):
        G.make_game("nope")


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".json"])
def test_save_and_load_roundtrip(tmp_path, suffix):
    g = G.random_intransitive(5, seed=2)
    path = G.save_game(g, tmp_path / f"g{suffix}")
    back = G.load_game(path)
    np.testing.assert_array_equal(back.P, g.P)
    np.testing.assert_array_equal(back.mu, g.mu)


def test_json_keeps_mu_rho_and_names(tmp_path):
    mu = np.array([0.2, 0.3, 0.5])
    g = G.PreferenceGame(
        np.stack([G.rock_paper_scissors().P] * 2), mu, [0.25, 0.75], "x", ("a", "b", "c")
    )
    back = G.load_game(G.save_game(g, tmp_path / "g.json"))
    np.testing.assert_array_equal(back.mu, g.mu)
    np.testing.assert_array_equal(back.rho, g.rho)
    assert back.actions == ("a", "b", "c") and back.name == "x"


def test_saving_never_clobbers_and_refuses_lossy_formats(tmp_path):
    g = G.rock_paper_scissors()
    path = G.save_game(g, tmp_path / "g.npy")
    with pytest.raises(FileExistsError):
        G.save_game(g, path)
    with pytest.raises(ValueError, match="non-uniform mu"):
        G.save_game(g.with_mu([0.2, 0.3, 0.5]), tmp_path / "h.csv")
    G.save_game(G.intransitive_dice(), path, overwrite=True)
    np.testing.assert_array_equal(G.load_game(path).P, G.intransitive_dice().P)


def test_malformed_files_are_reported_by_name(tmp_path):
    (tmp_path / "a.csv").write_text("0.5,x\n0.5,0.5\n")
    with pytest.raises(ValueError, match=r"a.csv: line 1"):
        G.load_game(tmp_path / "a.csv")
    (tmp_path / "b.json").write_text(json.dumps({"Q": 1}))
    with pytest.raises(ValueError, match=r"b.json: JSON object has no key 'P'"):
        G.load_game(tmp_path / "b.json")
    (tmp_path / "c.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match=r"c.npy: not a valid .npy file"):
        G.load_game(tmp_path / "c.npy")
    (tmp_path / "d.csv").write_text("0.5,0.2\n0.9,0.5\n")
    with pytest.raises(ValueError, match=r"d.csv: P\[0,1\] \+ P\[1,0\] = 1.1, must be 1"):
        G.load_game(tmp_path / "d.csv")
    (tmp_path / "e.txt").write_text("1")
    with pytest.raises(ValueError, match=r"e.txt: unknown file type '.txt'"):
        G.load_game(tmp_path / "e.txt")


def test_an_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    from prefgame import files

    path = G.save_game(G.rock_paper_scissors(), tmp_path / "g.json")
    before = path.read_bytes()

    def broken_write(self, data):  # the disk fills up half-way through
        raise OSError("disk full")

    monkeypatch.setattr(files.Path, "write_bytes", broken_write)
    with pytest.raises(OSError, match="disk full"):
        G.save_game(G.intransitive_dice(), path, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]  # no temporary file left behind


# --------------------------------------------------------------------------- issue 25


def test_a_game_copies_the_callers_arrays():
    """The caller's P and μ stay writable and unchanged; editing them later changes nothing."""
    P = np.array([[0.5, 0.2], [0.8, 0.5]])
    mu = np.array([0.3, 0.7])
    g = G.PreferenceGame(P, mu)
    assert P.flags.writeable and mu.flags.writeable
    P[0, 1], P[1, 0], mu[:] = 0.9, 0.1, [0.5, 0.5]
    np.testing.assert_array_equal(g.P, [[0.5, 0.2], [0.8, 0.5]])
    np.testing.assert_array_equal(g.mu, [0.3, 0.7])
    assert not g.P.flags.writeable and not g.mu.flags.writeable
    Pb = np.stack([np.array([[0.5, 0.2], [0.8, 0.5]])] * 2)
    rho = np.array([0.25, 0.75])
    gb = G.PreferenceGame(Pb, rho=rho)
    rho[:] = 0.5
    assert rho.flags.writeable and gb.rho.tolist() == [0.25, 0.75]


@pytest.mark.parametrize(
    "P, mu, message",
    [
        (np.array([[0.5, 0.2 + 0.1j], [0.8 - 0.1j, 0.5]]), None, "P[0,1] = (0.2+0.1j) is complex"),
        ([[0.5, 0.2 + 0.1j], [0.8, 0.5]], None, "P[0,1] = (0.2+0.1j) is complex"),
        (np.array([[0.5, 0.2], [0.8, 0.5]], dtype=complex), None, "complex dtype"),
        ([[0.5, 0.2], [0.8, 0.5]], np.array([0.5 + 0.5j, 0.5]), "mu[0] = (0.5+0.5j) is complex"),
    ],
)
def test_complex_input_is_refused_not_truncated(P, mu, message):
    import warnings

    from prefgame.equilibrium import solve

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning would mean a silent truncation
        with pytest.raises(ValueError, match=re.escape(message)):
            G.PreferenceGame(P, mu)
        with pytest.raises(ValueError, match=re.escape(message)):
            solve(P, 0.5, mu)


def test_a_complex_npy_file_is_refused_by_name(tmp_path):
    np.save(tmp_path / "c.npy", np.array([[0.5, 0.2 + 0.1j], [0.8, 0.5]]))
    with pytest.raises(ValueError, match=r"c\.npy: P\[0,1\] = \(0\.2\+0\.1j\) is complex"):
        G.load_game(tmp_path / "c.npy")


def test_float32_input_is_accepted_and_promoted(tmp_path):
    P = np.array([[0.5, 0.3, 0.7], [0.7, 0.5, 0.1], [0.3, 0.9, 0.5]], dtype=np.float32)
    mu = np.array([0.1, 0.2, 0.7], dtype=np.float32)
    g = G.PreferenceGame(P, mu)
    assert g.P.dtype == np.float64 and g.mu.dtype == np.float64
    np.testing.assert_array_equal(g.P + g.P.T, np.ones((3, 3)))  # made exactly complementary
    np.testing.assert_allclose(g.P, P, atol=1e-7)
    assert g.mu.sum() == pytest.approx(1.0, abs=1e-15)
    np.save(tmp_path / "p32.npy", P)
    np.testing.assert_array_equal(G.load_game(tmp_path / "p32.npy").P, g.P)
    # float64 keeps its strict tolerance, and the message shows the digits that differ
    with pytest.raises(ValueError, match=r"P\[1,2\] \+ P\[2,1\] = 0\.9999999\d+, must be 1"):
        G.PreferenceGame(P.astype(np.float64))
    # a float32 matrix that is really invalid is still refused
    bad = P.copy()
    bad[0, 1] = 0.4
    with pytest.raises(ValueError, match=r"P\[0,1\] \+ P\[1,0\] = 1\.1"):
        G.PreferenceGame(bad)


@pytest.mark.parametrize(
    "faces, message",
    [
        ("abc", "faces = 'abc'"),
        (5, "faces = 5"),
        ([[1, 2], "ab"], "faces[1] = 'ab'"),
        ([[1, 2], [True, 3]], "faces[1]"),
        ([[1, 2], [float("nan")]], "faces[1]"),
        ([[1, 2], []], "faces[1] is empty"),
    ],
)
def test_dice_faces_must_be_lists_of_numbers(faces, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        G.intransitive_dice(faces)
    with pytest.raises(ValueError, match=re.escape(message)):
        G.dice_preferences(faces)


@pytest.mark.parametrize(
    "i, j, value, message",
    [
        (5, 290, 0.7, r"P\[5,290\] \+ P\[290,5\] = "),
        (290, 5, float("nan"), r"P\[290,5\] = nan, must be finite"),
        (299, 299, 0.6, r"P\[299,299\] = 0.6, must be 1/2"),
        (299, 298, 1.5, r"P\[299,298\] = 1.5, must be in \[0, 1\]"),
    ],
)
def test_a_bad_entry_of_a_large_matrix_is_named(i, j, value, message):
    """Above 256 actions a valid P is recognised tile by tile; a bad one is still named."""
    P = G.random_intransitive(300, seed=0).P.copy()
    assert G.validate_preference_matrix(P) is not None
    P[i, j] = value
    with pytest.raises(ValueError, match=message):
        G.validate_preference_matrix(P)
