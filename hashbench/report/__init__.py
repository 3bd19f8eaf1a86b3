"""Boards and figures from records: the leaderboard (Markdown and CSV), its HTML page, the
paper-vs-hashbench table, PR and P@N curves and t-SNE maps. Reads records only."""
