"""What a board's legend says: its floor, how its rows are summarised and ranked, and, on a
board that has them, what its check columns are."""

from __future__ import annotations

from hashbench.report.flags import NOT_RANDOM_MARGIN

# the black-box track's column: the per-query worst case over ranking-only and transfer attacks
BLACKBOX_COLUMN = "black-box worst-case mAP"
# the convergence check's column: how far the worst case falls with the check's attack at 2x
# its budget (seed 0); above NOT_CONVERGED_MARGIN the row is flagged
DROP_COLUMN = "drop at 2x"


def board_legend(floor: float | None, columns) -> str:
    """The legend of a board whose random-ranking floor is ``floor`` and whose table has
    ``columns``; the check columns are explained only where they are (v1 and v2's boards read
    as they did)."""
    shown = f"{floor:.4f}" if floor is not None else "n/a"
    text = (f"Random-ranking floor: {shown}. Means over the row's seeds; the worst-case "
            "interval is 95% (t over seeds, or bootstrap over queries for one seed); rows "
            "whose intervals overlap share a rank; collapsed models (clean mAP within "
            f"{NOT_RANDOM_MARGIN} of the floor) are listed after the ranked ones, unranked; "
            "provisional entries (a worst case over fewer than the suite's attacks, or fewer "
            "than its seeds) are listed last, unranked, with what they lack.")
    if any(str(c).endswith((DROP_COLUMN, BLACKBOX_COLUMN)) for c in columns):
        text += (" Checks of the worst case, not ranked: 'drop at 2x' is how far it falls "
                 "when the convergence attack also runs at twice its steps and restarts (at "
                 "the first seed; flagged past 0.01); the black-box worst case is what attacks "
                 "that see only ranked ids, or only a surrogate, reach. A check measured at "
                 "fewer seeds than its row is the mean over those.")
    return text
