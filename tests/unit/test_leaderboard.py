"""Leaderboards: hostile names stay inert, boards never mix suite versions, ranking by worst case."""

import copy

from record_factory import complete, ensemble  # tests/record_factory.py

from hashbench.report.leaderboard import board_markdown, build_boards, escape_markdown


def record(defense: str, attack: str, clean: float, robust: float | None, version: int = 1,
           method: str = "dpsh", third_party: bool = False) -> dict:
    metrics = {"eps": 0.3, "topk": None, "clean_map": clean}
    if robust is not None:
        metrics["map"] = robust
    return complete({
        "suite": {"name": "standard", "version": version},
        "dataset": {"protocol": "mnist-5k-v1"},
        "cell": {"attack": attack},
        "model": {"method": method, "backbone": "small_cnn", "bits": 32,
                  "defense": {"name": defense, "third_party": third_party}},
        "attack": {"params": {"steps": 100}} if attack not in ("clean", "worst_case") else None,
        "metrics": metrics, "status": "ok", "error": None,
    })


def test_rank_follows_worst_case_and_versions_stay_apart():
    recs = [record("vanilla", "clean", 0.96, None), record("vanilla", "worst_case", 0.96, 0.05),
            record("cgat", "clean", 0.95, None), record("cgat", "worst_case", 0.95, 0.40),
            record("cgat", "worst_case", 0.95, 0.90, version=2)]
    boards = build_boards(recs)
    assert [b.suite_version for b in boards] == [1, 2]
    v1 = boards[0].table
    assert list(v1["defense"]) == ["cgat", "vanilla"] and list(v1["rank"]) == [1, 2]
    assert len(boards[1].table) == 1


def test_hostile_names_are_inert_and_the_table_intact():
    evil = '<script>alert("x")</script>|`**bold**`'
    recs = [record(evil, "clean", 0.9, None, third_party=True),
            record(evil, "hag", 0.9, 0.95)]  # an attack that raised mAP gets flagged
    md = board_markdown(build_boards(recs)[0])
    assert "<script>" not in md and "&lt;script&gt;" in md
    header, rule, row = md.strip().splitlines()[4:7]  # title, legend, table
    n_cols = header.count(" | ") + 1
    # escaped pipes do not open new columns
    assert row.replace("\\|", "").count(" | ") + 1 == n_cols == rule.count("---")
    assert "hag mAP above clean" in row.replace("\\", "") and "yes" in row


def test_escape_markdown_handles_every_special():
    assert escape_markdown("a|b") == "a\\|b"
    assert escape_markdown("<b>&") == "&lt;b&gt;&amp;"
    assert "\n" not in escape_markdown("a\nb")
    assert escape_markdown(copy.copy("x_y*z")) == "x\\_y\\*z"


def test_large_eps_far_above_random_is_flagged_and_boards_split_by_eps():
    masked = record("masky", "center_pgd", 0.9, 0.6)
    masked["metrics"].update(eps=1.0, random_map=0.1)
    honest = record("honest", "center_pgd", 0.9, 0.12)
    honest["metrics"].update(eps=1.0, random_map=0.1)
    at_protocol = record("masky", "center_pgd", 0.9, 0.5)
    boards = build_boards([masked, honest, at_protocol])
    assert [b.eps for b in boards] == [0.3, 1.0]
    flags = dict(zip(boards[1].table["defense"], boards[1].table["flags"]))
    assert flags["masky"] == "center_pgd not near random at eps 1"
    assert flags["honest"] == ""


def test_image_text_board_has_both_directions_and_flags_collapsed_models():
    recs = []
    for defense, clean, robust in (("cm_vanilla", 0.9, 0.13), ("collapsed", 0.27, 0.25)):
        for direction, attack in (("i2t", "center_pgd"), ("t2i", "text_flip")):
            for a, value in (("clean", None), (attack, robust), ("worst_case", robust)):
                r = record(defense, a, clean, value, method="dcmh")
                r["metrics"].update(direction=direction, random_map=0.23, text_flips=2)
                recs.append(r)
    (board,) = build_boards(recs)
    t = board.table
    # the collapsed model's worst case is higher, but it is listed apart, unranked
    assert list(t["defense"]) == ["cm_vanilla", "collapsed"]
    assert list(t["rank"]) == [1, None]
    for col in ("I→T clean mAP", "T→I clean mAP", "I→T center_pgd mAP", "T→I text_flip mAP",
                "I→T worst-case mAP", "T→I worst-case mAP", "worst-case mAP", "text flips"):
        assert col in t.columns, col
    flags = dict(zip(t["defense"], t["flags"]))
    assert "I→T clean mAP within 0.1 of random ranking" in flags["collapsed"]
    assert flags["cm_vanilla"] == "worst case below the random floor"  # 0.13 < 0.23


def test_ensemble_masking_flag_reaches_the_board():
    masked = record("masky", "hash_aa", 0.9, 0.2)
    masked["metrics"]["ensemble"] = ensemble(masking_suspected=True, blackbox_gain=0.41)
    honest = record("honest", "hash_aa", 0.9, 0.3)
    honest["metrics"]["ensemble"] = ensemble(masking_suspected=False, blackbox_gain=0.001)
    table = build_boards([masked, honest])[0].table.set_index("defense")
    assert "gradient masking suspected (hash_aa: black-box stages 0.410" in table.loc["masky", "flags"]
    assert "masking" not in table.loc["honest", "flags"]


def seeded(defense, seed, clean, worst, ci=None):
    recs = []
    for attack, value in (("clean", None), ("worst_case", worst)):
        r = record(defense, attack, clean, value)
        r["cell"]["seed"] = seed
        r["metrics"]["random_map"] = 0.1
        if ci and value is not None:
            r["metrics"]["map_ci95"] = ci
        recs.append(r)
    return recs


def test_seeds_give_means_with_t_intervals_and_overlapping_rows_share_a_rank():
    recs = []
    for seed, (a, b, c) in enumerate([(0.40, 0.39, 0.20), (0.42, 0.41, 0.22), (0.38, 0.40, 0.21)]):
        recs += seeded("cgat", seed, 0.95, a) + seeded("saat", seed, 0.94, b)
        recs += seeded("vanilla", seed, 0.96, c)
    (board,) = build_boards(recs)
    t = board.table.set_index("defense")
    assert abs(t.loc["cgat", "worst-case mAP"] - 0.40) < 1e-12 and t.loc["cgat", "seeds"] == 3
    # t interval: mean +- 4.303 * sd / sqrt(3), sd of (0.40, 0.42, 0.38) = 0.02
    half = 4.303 * 0.02 / 3 ** 0.5
    assert abs(t.loc["cgat", "worst-case CI high"] - (0.40 + half)) < 1e-9
    # cgat and saat overlap: both rank 1; vanilla is below both intervals: rank 3
    assert t.loc["cgat", "rank"] == 1 and t.loc["saat", "rank"] == 1
    assert t.loc["vanilla", "rank"] == 3
    assert abs(board.floor - 0.1) < 1e-12 and "floor: 0.1000" in board_markdown(board)


def test_one_seed_uses_the_records_bootstrap_interval():
    recs = seeded("cgat", 0, 0.95, 0.40, ci=[0.36, 0.44]) + seeded("saat", 0, 0.94, 0.30,
                                                                     ci=[0.27, 0.33])
    t = build_boards(recs)[0].table.set_index("defense")
    assert t.loc["cgat", "worst-case CI low"] == 0.36 and t.loc["saat", "rank"] == 2


def test_a_row_mixing_checkpoints_is_flagged():
    recs = seeded("cgat", 0, 0.95, 0.40)
    recs[0]["model"]["checkpoint_sha256"] = "a" * 64
    recs[1]["model"]["checkpoint_sha256"] = "b" * 64
    flags = build_boards(recs)[0].table["flags"][0]
    assert "cells computed on different checkpoints" in flags


def test_a_row_fine_tuned_from_another_vanilla_is_flagged():
    vanilla_sha, other_sha = "a" * 64, "b" * 64
    recs = []
    for defense, sha, parent in (("vanilla", vanilla_sha, None), ("cgat", "c" * 64, vanilla_sha),
                                 ("mine", "d" * 64, other_sha)):
        for attack, robust in (("clean", None), ("worst_case", 0.4)):
            rec = record(defense, attack, 0.9, robust)
            rec["model"]["checkpoint_sha256"] = sha
            if parent:
                rec["model"]["parent_checkpoint_sha256"] = parent
            recs.append(rec)
    table = build_boards(recs)[0].table.set_index("defense")
    assert "fine-tuned from a checkpoint not on this board" in table.loc["mine", "flags"]
    assert "fine-tuned" not in table.loc["cgat", "flags"]


def test_the_black_box_worst_case_stands_beside_the_white_box_one():
    recs = [record("cgat", "clean", 0.95, None), record("cgat", "worst_case", 0.95, 0.30),
            record("cgat", "blackbox_worst_case", 0.95, 0.62)]
    table = build_boards(recs)[0].table
    cols = list(table.columns)
    assert cols.index("black-box worst-case mAP") == cols.index("worst-case mAP") - 1
    assert table.loc[0, "black-box worst-case mAP"] == 0.62
    assert table.loc[0, "rank"] == 1  # the white-box worst case still ranks


def test_the_site_summary_leaves_the_black_box_members_to_the_card():
    """The summary keeps the black-box worst case and drops the attacks behind it (an
    image-text board would not fit 1280 px otherwise); without that column they stay."""
    from hashbench.report.html import attack_columns

    recs = [record("cgat", "clean", 0.95, None), record("cgat", "worst_case", 0.95, 0.30),
            record("cgat", "hag", 0.95, 0.40), record("cgat", "ranking_blackbox", 0.95, 0.70),
            record("cgat", "transfer", 0.95, 0.80)]
    board = build_boards(recs)[0]
    assert {"ranking_blackbox mAP", "transfer mAP", "hag mAP"} <= set(
        attack_columns(board.table, board.blackbox_members))
    summed = record("cgat", "blackbox_worst_case", 0.95, 0.62)
    summed["metrics"]["worst_case_of"] = ["ranking_blackbox", "transfer"]
    board = build_boards([*recs, summed])[0]
    assert board.blackbox_members == {"ranking_blackbox", "transfer"}
    cols = attack_columns(board.table, board.blackbox_members)
    assert "hag mAP" in cols and "black-box worst-case mAP" in cols
    assert "ranking_blackbox mAP" not in cols and "transfer mAP" not in cols


def test_a_suite_with_reference_numbers_shows_them_beside_its_own(tmp_path):
    from hashbench.report.leaderboard import write_leaderboards

    def lit(defense, attack, clean, robust, t_map=None):
        rec = record(defense, attack, clean, robust, method="dph")
        rec["suite"]["name"], rec["model"]["backbone"], rec["model"]["bits"] = \
            "literature", "alexnet", 32
        rec["dataset"].update(name="nus_wide", protocol="nus-wide-v1")
        if t_map is not None:
            rec["metrics"]["t_map"] = t_map
        return rec

    recs = [lit("vanilla", "clean", 0.80, None), lit("vanilla", "hag", 0.80, 0.10),
            lit("vanilla", "tha", 0.80, 0.20, t_map=0.75)]
    board = build_boards(recs)[0]
    assert board.dataset == "nus_wide"
    write_leaderboards([board], tmp_path)
    md = (tmp_path / "README.md").read_text()
    assert "paper vs hashbench" in md
    import pandas as pd

    paper = pd.read_csv(tmp_path / f"{board.slug}_paper.csv")
    got = {(r.attack, r.metric): (r.hashbench, r.paper) for r in paper.itertuples()}
    # SAAT Table I, NUS-WIDE 32 bits: clean 77.47, HAG 13.32, THA t-mAP 72.98
    assert got[("clean", "map")] == (0.80, 0.7747)
    assert got[("hag", "map")] == (0.10, 0.1332)
    assert got[("tha", "t_map")] == (0.75, 0.7298)
    assert pd.isna(got[("sdha", "map")][0])  # not measured here: the paper's number alone
    assert "Paper vs hashbench" in (tmp_path / "index.html").read_text()


def rows_of(defense, worst, members, seeds, third_party=False):
    recs = []
    for seed in seeds:
        clean = record(defense, "clean", 0.95, None, third_party=third_party)
        worst_case = record(defense, "worst_case", 0.95, worst, third_party=third_party)
        for rec in (clean, worst_case):
            rec["cell"]["seed"] = seed
        worst_case["metrics"]["worst_case_of"] = list(members)
        recs += [clean, worst_case]
    return recs


FULL = ("hag", "center_pgd", "targeted_pgd", "hash_aa")
NEED = {("standard", 1, "mnist"): (frozenset({0, 1, 2}), {"": frozenset(FULL)})}


def test_a_partial_evaluation_is_provisional_and_ranks_no_one_out():
    """The HAG-only, one-seed row would top the board by its number; it is listed apart,
    unranked, saying what it lacks, and the honest rows keep their ranks."""
    recs = (rows_of("cgat", 0.26, FULL, (0, 1, 2)) + rows_of("vanilla", 0.05, FULL, (0, 1, 2))
            + rows_of("mine", 0.42, ["hag"], (0,), third_party=True))
    (board,) = build_boards(recs, NEED)
    t = board.table.set_index("defense")
    assert t.loc["mine", "provisional"] == "hag only; 1 of 3 seeds"
    assert t.loc["mine", "rank"] is None and list(board.table["defense"])[-1] == "mine"
    assert t.loc["cgat", "rank"] == 1 and t.loc["cgat", "provisional"] == ""
    # the same rule for a first-party row missing a seed or an attack
    more = recs + rows_of("saat", 0.5, FULL[:3], (0, 1, 2)) + rows_of("atrdh", 0.5, FULL, (0, 1))
    t = build_boards(more, NEED)[0].table.set_index("defense")
    assert t.loc["saat", "provisional"] == "without hash_aa"
    assert t.loc["atrdh", "provisional"] == "2 of 3 seeds"
    assert t.loc["cgat", "rank"] == 1


def test_a_board_of_an_unpublished_suite_requires_what_its_fullest_rows_cover():
    recs = rows_of("cgat", 0.26, FULL, (0, 1)) + rows_of("mine", 0.42, ["hag"], (0,))
    t = build_boards(recs)[0].table.set_index("defense")  # no published requirement
    assert t.loc["cgat", "provisional"] == "" and t.loc["cgat", "rank"] == 1
    assert t.loc["mine", "provisional"] == "hag only; 1 of 2 seeds"


def test_rows_from_a_second_results_folder_are_marked():
    recs = rows_of("cgat", 0.26, FULL, (0,)) + rows_of("mine", 0.3, FULL, (0,))
    typed = [__import__("hashbench.records.types", fromlist=["Record"]).Record.from_dict(r)
             for r in recs]
    origins = {id(r): "hashbench-results" for r in typed if r.model.defense.name == "mine"}
    t = build_boards(typed, None, origins)[0].table.set_index("defense")
    assert t.loc["mine", "from"] == "hashbench-results" and t.loc["cgat", "from"] == ""
