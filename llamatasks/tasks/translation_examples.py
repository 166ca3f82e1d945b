"""Parallel sentences shown to the model before the text to translate (few-shot).

Written for llamatasks (not taken from any evaluation set): everyday and
news-style sentences, each in the same ten languages. Chat models are shown
the first one: on the 135M default model it raises chrF++ on en<->fr/de from
15.6 to 20.0, where two or three were no better (``bench/ablate_translate.py``,
``docs/quality.md``). Base models, which have no instructions to follow, are
shown all of them.
"""

from __future__ import annotations

EXAMPLES: tuple[dict[str, str], ...] = (
    {
        "en": "The company said on Monday that it would hire two hundred new workers this year.",
        "fr": "L'entreprise a annoncé lundi qu'elle embaucherait deux cents nouveaux salariés cette année.",
        "de": "Das Unternehmen teilte am Montag mit, dass es in diesem Jahr zweihundert neue Mitarbeiter einstellen werde.",
        "es": "La empresa anunció el lunes que contrataría a doscientos nuevos trabajadores este año.",
        "it": "L'azienda ha annunciato lunedì che quest'anno assumerà duecento nuovi dipendenti.",
        "pt": "A empresa anunciou na segunda-feira que contrataria duzentos novos funcionários este ano.",
        "nl": "Het bedrijf maakte maandag bekend dat het dit jaar tweehonderd nieuwe werknemers zal aannemen.",
        "ru": "В понедельник компания сообщила, что в этом году наймёт двести новых сотрудников.",
        "zh": "该公司周一表示，今年将招聘两百名新员工。",
        "ja": "同社は月曜日、今年新たに二百人の従業員を採用すると発表した。",
    },
    {
        "en": "Heavy rain delayed the train, so she arrived after the meeting had started.",
        "fr": "De fortes pluies ont retardé le train, elle est donc arrivée après le début de la réunion.",
        "de": "Starker Regen verspätete den Zug, deshalb kam sie erst nach Beginn der Besprechung an.",
        "es": "La fuerte lluvia retrasó el tren, así que llegó cuando la reunión ya había empezado.",
        "it": "La pioggia forte ha ritardato il treno, quindi è arrivata dopo l'inizio della riunione.",
        "pt": "A chuva forte atrasou o trem, então ela chegou depois que a reunião já tinha começado.",
        "nl": "Door de zware regen had de trein vertraging, dus kwam ze aan toen de vergadering al was begonnen.",
        "ru": "Из-за сильного дождя поезд задержался, поэтому она приехала, когда совещание уже началось.",
        "zh": "大雨让火车晚点了，所以她到的时候会议已经开始了。",
        "ja": "大雨で電車が遅れたので、彼女が着いたときには会議はもう始まっていた。",
    },
    {
        "en": "The museum opens at nine and closes early on Sundays.",
        "fr": "Le musée ouvre à neuf heures et ferme tôt le dimanche.",
        "de": "Das Museum öffnet um neun Uhr und schließt sonntags früh.",
        "es": "El museo abre a las nueve y cierra temprano los domingos.",
        "it": "Il museo apre alle nove e la domenica chiude presto.",
        "pt": "O museu abre às nove e fecha cedo aos domingos.",
        "nl": "Het museum gaat om negen uur open en sluit op zondag vroeg.",
        "ru": "Музей открывается в девять, а по воскресеньям закрывается рано.",
        "zh": "博物馆九点开门，星期天关门很早。",
        "ja": "博物館は九時に開館し、日曜日は早く閉館します。",
    },
)


def examples_for(source: str, target: str) -> list[tuple[str, str]]:
    """``(source sentence, target sentence)`` pairs for a direction, by base language code."""
    src, tgt = source.split("-")[0], target.split("-")[0]
    return [(ex[src], ex[tgt]) for ex in EXAMPLES if src in ex and tgt in ex]


def other_sentence(source: str, text: str) -> str:
    """A built-in sentence in ``source`` (English where it has none) that is not ``text``: what a
    translation's tokens are weighed against for its confidence."""
    code = source.split("-")[0]
    candidates = [ex[code] for ex in EXAMPLES if code in ex] or [ex["en"] for ex in EXAMPLES]
    return next(c for c in reversed(candidates) if c.strip() != text.strip())
