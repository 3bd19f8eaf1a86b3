"""``hashbench selfcheck``: a plugin's contract checked on a slice of the embedded data, in
seconds. ``image`` holds the rules of image attacks, defenses and methods; ``image_text`` those of
text attacks and image-text defenses and methods; ``plugin_checks`` picks them by kind and
modality."""

from __future__ import annotations


def plugin_checks(kind: str, cls) -> list:
    """The contract rules of one plugin class (``kind``: attack, defense or method), for its
    modality."""
    from hashbench.selfcheck.image import check_attack, check_defense, check_image_method
    from hashbench.selfcheck.image_text import (
        check_image_text_defense,
        check_method,
        check_text_attack,
    )

    if kind == "attack":
        return check_text_attack(cls) if cls.modality == "text" else check_attack(cls)
    if kind == "defense":
        return check_image_text_defense(cls) if cls.modality == "image-text" else \
            check_defense(cls)
    return check_method(cls) if cls.modality == "image-text" else check_image_method(cls)
