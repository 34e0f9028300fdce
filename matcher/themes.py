"""The theme taxonomy of urban innovation: FR/EN labels and keyword lists, lookup by id or
label, and the themes a free text mentions. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.domain import fold

__all__ = ["THEMES", "Theme", "extract_themes", "find_theme", "theme_label"]


@dataclass(frozen=True)
class Theme:
    id: str
    fr: str
    en: str
    keywords: tuple[str, ...]  # folded (lower-case, no accents); a trailing * = prefix


def _kw(*words: str) -> tuple[str, ...]:
    """Fold keywords word by word, keeping the ``*`` prefix marks."""
    out = []
    for w in words:
        parts = [fold(p) + ("*" if p.endswith("*") else "") for p in w.split()]
        out.append(" ".join(p for p in parts if p.strip("*")))
    return tuple(out)


#: The taxonomy of urban innovation (ids are stable: stored in needs and subscriptions).
THEMES: tuple[Theme, ...] = (
    Theme(
        "mobilite",
        "Mobilité",
        "Mobility",
        _kw(
            "mobilite*",
            "transport*",
            "deplacement*",
            "velo*",
            "cyclable*",
            "bus",
            "covoiturage*",
            "autopartage*",
            "stationnement*",
            "parking*",
            "trottinette*",
            "pieton*",
            "navette*",
            "circulation",
            "trafic",
            "mobility",
            "bike*",
            "bicycle*",
            "carpool*",
            "car sharing",
            "traffic",
            "pedestrian*",
            "shuttle*",
            "public transport",
            "congestion",
            "tram*",
        ),
    ),
    Theme(
        "logistique",
        "Logistique urbaine",
        "Urban logistics",
        _kw(
            "logistique*",
            "livraison*",
            "dernier kilometre",
            "colis",
            "fret",
            "entrepot*",
            "logistics",
            "delivery",
            "deliveries",
            "last mile",
            "parcel*",
            "freight",
        ),
    ),
    Theme(
        "energie",
        "Énergie",
        "Energy",
        _kw(
            "energie*",
            "energetique*",
            "eclairage*",
            "photovolta*",
            "solaire*",
            "renovation energ*",
            "chauffage*",
            "electricite",
            "reseau de chaleur",
            "eolien*",
            "energy",
            "lighting",
            "solar",
            "heating",
            "electricity",
            "streetlight*",
            "lampadaire*",
        ),
    ),
    Theme(
        "eau",
        "Eau",
        "Water",
        _kw(
            "eau",
            "eaux",
            "assainissement",
            "fuite* d eau",
            "pluvial*",
            "inondation*",
            "secheresse*",
            "irrigation",
            "potable",
            "water",
            "flood*",
            "drought*",
            "sewage",
            "rainwater",
        ),
    ),
    Theme(
        "dechets",
        "Déchets et économie circulaire",
        "Waste and circular economy",
        _kw(
            "dechet*",
            "recyclage*",
            "recycl*",
            "compost*",
            "economie circulaire",
            "reemploi*",
            "tri",
            "ordures",
            "biodechet*",
            "poubelle*",
            "collecte des",
            "waste",
            "circular economy",
            "reuse",
            "garbage",
            "litter",
            "depot* sauvage*",
        ),
    ),
    Theme(
        "air",
        "Qualité de l'air",
        "Air quality",
        _kw(
            "qualite de l air",
            "pollution*",
            "air quality",
            "particules",
            "emission*",
            "capteur* d air",
            "no2",
            "pm10",
            "pm2 5",
            "polluant*",
            "air pollution",
        ),
    ),
    Theme(
        "donnees",
        "Données et open data",
        "Data and open data",
        _kw(
            "donnee*",
            "open data",
            "opendata",
            "data",
            "tableau de bord",
            "tableaux de bord",
            "capteur*",
            "jumeau numerique",
            "sig",
            "cartographi*",
            "dashboard*",
            "sensor*",
            "digital twin",
            "mapping",
            "indicateur*",
            "big data",
            "intelligence artificielle",
            "ia",
        ),
    ),
    Theme(
        "participation",
        "Participation citoyenne",
        "Citizen participation",
        _kw(
            "participation*",
            "participati*",
            "concertation*",
            "consultation*",
            "citoyen*",
            "budget participatif",
            "democratie",
            "civic",
            "citizen*",
            "signalement*",
            "community",
        ),
    ),
    Theme(
        "commerce",
        "Commerce",
        "Retail",
        _kw(
            "commerce*",
            "commercant*",
            "centre ville",
            "centre bourg",
            "boutique*",
            "marche local",
            "vitrine*",
            "retail",
            "shop*",
            "high street",
            "town centre",
            "downtown",
        ),
    ),
    Theme(
        "tourisme",
        "Tourisme",
        "Tourism",
        _kw(
            "tourisme",
            "touristi*",
            "visiteur*",
            "office de tourisme",
            "patrimoine",
            "tourism",
            "tourist*",
            "visitor*",
            "heritage",
        ),
    ),
    Theme(
        "sante",
        "Santé",
        "Health",
        _kw(
            "sante",
            "medecin*",
            "medical*",
            "soin*",
            "desert* medica*",
            "hopital*",
            "prevention",
            "bien etre",
            "vieillissement",
            "senior*",
            "health",
            "healthcare",
            "doctor*",
            "ageing",
            "aging",
            "elderly",
            "care",
        ),
    ),
    Theme(
        "education",
        "Éducation",
        "Education",
        _kw(
            "education",
            "ecole*",
            "scolaire*",
            "eleve*",
            "college*",
            "lycee*",
            "enseignant*",
            "periscolaire*",
            "cantine*",
            "school*",
            "pupil*",
            "student*",
            "teacher*",
            "learning",
        ),
    ),
    Theme(
        "habitat",
        "Habitat",
        "Housing",
        _kw(
            "habitat",
            "logement*",
            "batiment*",
            "immobilier",
            "urbanisme",
            "amenagement*",
            "construction",
            "renovation*",
            "housing",
            "building*",
            "urban planning",
        ),
    ),
    Theme(
        "inclusion_numerique",
        "Inclusion numérique",
        "Digital inclusion",
        _kw(
            "inclusion numerique",
            "fracture numerique",
            "illectronisme",
            "mediation numerique",
            "conseiller* numerique*",
            "digital inclusion",
            "digital divide",
            "digital skills",
            "numerique",
        ),
    ),
    Theme(
        "securite",
        "Sécurité",
        "Safety",
        _kw(
            "securite",
            "videoprotection",
            "videosurveillance",
            "delinquance",
            "tranquillite",
            "prevention des risques",
            "incendie*",
            "safety",
            "security",
            "crime",
        ),
    ),
    Theme(
        "social",
        "Social",
        "Social",
        _kw(
            "social",
            "sociale*",
            "solidarite*",
            "precarite",
            "pauvrete",
            "handicap*",
            "isolement",
            "aidant*",
            "ccas",
            "welfare",
            "poverty",
            "loneliness",
            "disabilit*",
        ),
    ),
    Theme(
        "emploi",
        "Emploi",
        "Employment",
        _kw(
            "emploi*",
            "insertion",
            "recrutement",
            "chomage",
            "formation professionnelle",
            "job*",
            "employment",
            "unemployment",
            "recruit*",
        ),
    ),
    Theme(
        "alimentation",
        "Agriculture et alimentation",
        "Farming and food",
        _kw(
            "agricult*",
            "alimentation",
            "alimentaire*",
            "circuit* court*",
            "cantine*",
            "maraich*",
            "agriculteur*",
            "gaspillage alimentaire",
            "food",
            "farm*",
            "farming",
            "urban farm*",
        ),
    ),
    Theme(
        "culture",
        "Culture",
        "Culture",
        _kw(
            "culture*",
            "culturel*",
            "musee*",
            "bibliotheque*",
            "mediatheque*",
            "spectacle*",
            "museum*",
            "library",
            "libraries",
            "cultural",
        ),
    ),
    Theme(
        "environnement",
        "Environnement et biodiversité",
        "Environment and biodiversity",
        _kw(
            "environnement*",
            "biodiversite",
            "vegetalisation",
            "ilot* de chaleur",
            "arbre*",
            "espace* vert*",
            "nature en ville",
            "climat*",
            "canicule*",
            "adaptation",
            "environment*",
            "biodiversity",
            "heat island*",
            "tree*",
            "green space*",
            "climate",
            "heatwave*",
        ),
    ),
    Theme(
        "administration",
        "Administration et démarches",
        "Administration and e-services",
        _kw(
            "demarche*",
            "administration",
            "administrati*",
            "formulaire*",
            "guichet*",
            "dematerialis*",
            "accueil du public",
            "etat civil",
            "service* public*",
            "e-service*",
            "paperwork",
            "forms",
            "public service*",
            "back office",
        ),
    ),
)

_THEMES_BY_ID = {t.id: t for t in THEMES}
_THEMES_BY_LABEL = {fold(t.fr): t for t in THEMES} | {fold(t.en): t for t in THEMES}


def find_theme(value: str) -> Theme | None:
    """The taxonomy theme for an id or a French/English label (``None`` if not ours)."""
    return _THEMES_BY_ID.get(value) or _THEMES_BY_LABEL.get(fold(value))


def theme_label(value: str, lang: str) -> str:
    """The display label of a theme id or label (values outside the taxonomy as given)."""
    theme = find_theme(value)
    if theme is None:
        return value
    return theme.en if lang == "en" else theme.fr


def _kw_pattern(keyword: str) -> str:
    parts = []
    for word in keyword.split():
        for sub in word.rstrip("*").split():
            parts.append(re.escape(sub) + (r"\w*" if word.endswith("*") else r"\b"))
    return r"\b" + " ".join(parts)


_THEME_PATTERNS = [(t.id, re.compile("|".join(_kw_pattern(k) for k in t.keywords))) for t in THEMES]


def extract_themes(text: str, *, limit: int = 4) -> list[str]:
    """Theme ids mentioned in ``text``, most mentioned first (ties: taxonomy order)."""
    folded = fold(text)
    scored: list[tuple[int, int, str]] = []
    for order, (theme_id, pattern) in enumerate(_THEME_PATTERNS):
        hits = len(pattern.findall(folded))
        if hits:
            scored.append((-hits, order, theme_id))
    scored.sort()
    found = [theme_id for _, _, theme_id in scored]
    # "numérique" alone is weak: keep digital inclusion only if nothing more specific.
    if (
        "inclusion_numerique" in found
        and len(found) > 1
        and not re.search(r"\b(inclusion|fracture|illectronisme|mediation|divide|skills)\b", folded)
    ):
        found.remove("inclusion_numerique")
    return found[:limit]
