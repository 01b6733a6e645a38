"""Numbers, dates and alert counts as the weekly report writes them in its language."""

from __future__ import annotations

from datetime import date


def number(value: float, decimals: int, lang: str) -> str:
    """A number with thousands separators: 1.234,56 in Vietnamese, 1,234.56 in English."""
    value = float(value)
    if round(value, decimals) == 0:
        value = 0.0  # no "-0,00"
    text = f"{value:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text


def signed(value: float, decimals: int, lang: str) -> str:
    """A change: + or − before it, none when it rounds to zero."""
    text = number(abs(value), decimals, lang)
    if round(value, decimals) == 0:
        return text
    return ("+" if value > 0 else "\u2212") + text


def plain(value: float, lang: str) -> str:
    """A target figure with as many decimals as it has (617.7 → 617,7; 20.0 → 20)."""
    decimals = next(d for d in range(4) if round(value, d) == round(value, 3))
    return number(value, decimals, lang)


def day(value: date, lang: str) -> str:
    """A date as dd/mm/yyyy in Vietnamese (the local convention), ISO in English."""
    return value.strftime("%d/%m/%Y") if lang == "vi" else value.isoformat()


def count(n: int, t: dict, new: bool = False) -> str:
    """'3 alerts' / '1 new alert', in the language of the texts ``t``."""
    return t["new_alerts" if new else "n_alerts"][n != 1].format(n=n)
