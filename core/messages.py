"""The message catalogue: every user-facing string, in French and English.

French typography: the catalogue is written with ordinary spaces; :func:`t`
turns the space before ``: ; ? !`` and inside « » into a no-break space, so
every French message is consistent.
"""

from __future__ import annotations

import re

__all__ = ["LANGUAGES", "MESSAGES", "fmt_int", "label", "t"]

LANGUAGES = ("fr", "en")

MESSAGES: dict[str, dict[str, str]] = {
    # --- Welcome, help, generic ----------------------------------------------------------
    "welcome": {
        "fr": "Bonjour, je suis PIU, l'assistant de la Place de l'Innovation Urbaine. "
        "J'aide les collectivités à trouver des solutions innovantes et des collectivités "
        "qui les ont déjà testées, et les start-up à se faire connaître.\n\nVous êtes :",
        "en": "Hello, I am PIU, the Urban Innovation Place assistant. I help local "
        "authorities find innovative solutions and peers who have already tried them, and "
        "help start-ups get known.\n\nYou are:",
    },
    "role_buyer": {"fr": "Une collectivité", "en": "A local authority"},
    "role_startup": {"fr": "Une start-up", "en": "A start-up"},
    "role_facilitator": {"fr": "Un facilitateur", "en": "A facilitator"},
    "facilitator_hello": {
        "fr": "Bienvenue. Vous pouvez décrire le besoin d'une collectivité avec /besoin, "
        "inscrire une solution avec /inscrire, ou taper /aide.",
        "en": "Welcome. You can describe a local authority's need with /need, register a "
        "solution with /register, or type /help.",
    },
    "help": {
        "fr": "Voici ce que je sais faire :\n"
        "/besoin — décrire un besoin et trouver des solutions\n"
        "/annuaire — l'annuaire : solutions et retours d'expérience, par thème\n"
        "/inscrire — inscrire la solution de votre start-up\n"
        "/mesbesoins — revoir vos besoins enregistrés (et les clore)\n"
        "/besoinsouverts — start-up : les besoins ouverts qui correspondent à vos solutions\n"
        "/suivis — les solutions que vous suivez\n"
        "/messolutions — vos solutions inscrites, leur relecture\n"
        "/annuler — abandonner l'étape en cours\n"
        "/langue — changer de langue\n"
        "/digest — la lettre hebdomadaire : jour, heure, thèmes\n"
        "/contact — l'adresse transmise lors d'une mise en relation acceptée\n"
        "/rex — raconter une expérimentation (retour d'expérience) pour les autres villes\n"
        "/confidentialite — vos données et vos droits (/mesdonnees, /supprimer)\n"
        "Vous pouvez aussi écrire directement votre besoin, avec vos mots.",
        "en": "Here is what I can do:\n"
        "/need — describe a need and find solutions\n"
        "/directory — the directory: solutions and experience reports, by theme\n"
        "/register — register your start-up's solution\n"
        "/myneeds — see your saved needs (and close them)\n"
        "/openneeds — start-ups: the open needs that fit your solutions\n"
        "/following — the solutions you follow\n"
        "/mysolutions — your registered solutions and their review\n"
        "/cancel — leave the current step\n"
        "/language — change language\n"
        "/digest — the weekly digest: day, time, themes\n"
        "/contact — the address passed on when an introduction is accepted\n"
        "/rex — tell how a pilot went (experience report) for other towns\n"
        "/privacy — your data and your rights (/mydata, /delete)\n"
        "You can also simply write your need in your own words.",
    },
    # --- proposals (issue 21) ----------------------------------------------------------
    # start-up side: open needs (anonymised), proposing a solution
    "prop_open_needs_button": {"fr": "Voir les besoins ouverts", "en": "See open needs"},
    "prop_no_solution": {
        "fr": "Pour voir les besoins ouverts des collectivités, inscrivez d'abord votre "
        "solution avec /inscrire.",
        "en": "To see local authorities' open needs, first register your solution with /register.",
    },
    "prop_besoins_which": {
        "fr": "Pour décrire un nouveau besoin : /besoin. Pour revoir les vôtres : /mesbesoins. "
        "Les start-up voient les besoins ouverts avec /besoinsouverts.",
        "en": "To describe a new need: /need. To see yours: /myneeds. Start-ups see open "
        "needs with /openneeds.",
    },
    "prop_searching": {
        "fr": "Je cherche les besoins ouverts qui correspondent à vos solutions…",
        "en": "Looking for open needs that fit your solutions…",
    },
    "prop_list_none": {
        "fr": "Aucun besoin ouvert ne correspond à vos solutions pour l'instant. Les nouveaux "
        "besoins arrivent chaque semaine dans la lettre (/digest).",
        "en": "No open need fits your solutions for now. New needs come every week in the "
        "digest (/digest).",
    },
    "prop_list_header": {
        "fr": "Besoins ouverts qui correspondent à vos solutions, les plus proches d'abord "
        "({first}–{last} sur {total}). Ils sont anonymisés : vous saurez quelle collectivité "
        "les a exprimés, avec ses coordonnées, si elle accepte votre proposition.",
        "en": "Open needs that fit your solutions, closest first ({first}–{last} of {total}). "
        "They are anonymised: you learn which local authority wrote them, and its details, "
        "if it accepts your proposal.",
    },
    "prop_need_line": {
        "fr": "{n}. « {problem} »\n{facts}\nPourquoi : {why} (pour « {solution} »){who}{done}",
        "en": '{n}. "{problem}"\n{facts}\nWhy: {why} (for "{solution}"){who}{done}',
    },
    "prop_need_who": {"fr": "\nCollectivité : {who}", "en": "\nLocal authority: {who}"},
    "prop_need_done": {"fr": "\n✓ Déjà proposé", "en": "\n✓ Already proposed"},
    "prop_need_anywhere": {"fr": "département non précisé", "en": "département not given"},
    "prop_propose_this": {
        "fr": "Proposer ma solution",
        "en": "Propose my solution",
    },
    "prop_button": {"fr": "Proposer ma solution (n°{n})", "en": "Propose my solution (no. {n})"},
    "prop_next_button": {"fr": "Besoins suivants", "en": "Next needs"},
    "prop_prev_button": {"fr": "Besoins précédents", "en": "Previous needs"},
    "prop_pick_solution": {
        "fr": "Quelle solution proposer pour le besoin n°{n} ? La plus proche est cochée.",
        "en": "Which solution do you propose for need no. {n}? The closest one is ticked.",
    },
    "prop_pitch_ask": {
        "fr": "La collectivité recevra la fiche de « {solution} » et deux lignes de votre "
        "part. Écrivez-les : ce que vous proposez pour ce besoin, et un résultat obtenu "
        "ailleurs (deux lignes, {max} caractères au plus).",
        "en": 'The local authority will receive the card of "{solution}" and two lines from '
        "you. Write them: what you propose for this need, and a result obtained elsewhere "
        "(two lines, at most {max} characters).",
    },
    "prop_pitch_too_long": {
        "fr": "C'est un peu long : deux lignes et {max} caractères au plus (vous en avez écrit "
        "{lines} ligne(s), {chars} caractères). Pouvez-vous raccourcir ?",
        "en": "That is a bit long: two lines and at most {max} characters (you wrote {lines} "
        "line(s), {chars} characters). Could you shorten it?",
    },
    "prop_preview": {
        "fr": "Voici ce que recevra la collectivité :\n\n{preview}\n\nJe l'envoie ?",
        "en": "Here is what the local authority will receive:\n\n{preview}\n\nShall I send it?",
    },
    "prop_send_button": {"fr": "Envoyer", "en": "Send"},
    "prop_rewrite_button": {"fr": "Réécrire", "en": "Rewrite"},
    "prop_cancel_button": {"fr": "Annuler", "en": "Cancel"},
    "prop_cancelled": {
        "fr": "Proposition annulée : rien n'a été envoyé.",
        "en": "Proposal cancelled: nothing was sent.",
    },
    "prop_sent": {
        "fr": "C'est envoyé. La collectivité accepte ou refuse ; vous aurez sa réponse ici. "
        "Vos coordonnées ne lui sont transmises que si elle accepte.",
        "en": "Sent. The local authority accepts or declines; you will get its answer here. "
        "Your details are shared only if it accepts.",
    },
    "prop_refused": {
        "fr": "Proposition non envoyée : {reason}",
        "en": "Proposal not sent: {reason}",
    },
    "prop_cap_week": {
        "fr": "vous avez déjà fait {cap} propositions ces {days} derniers jours. Choisissez les "
        "besoins où votre solution apporte le plus, et revenez dans quelques jours.",
        "en": "you already made {cap} proposals in the last {days} days. Pick the needs your "
        "solution helps most, and come back in a few days.",
    },
    "prop_cap_need": {
        "fr": "cette collectivité a déjà {cap} propositions en attente pour ce besoin. "
        "Réessayez quand elle y aura répondu.",
        "en": "this local authority already has {cap} proposals waiting on this need. Try "
        "again once it has answered them.",
    },
    "prop_closed": {
        "fr": "ce besoin n'est plus ouvert aux propositions.",
        "en": "this need no longer takes proposals.",
    },
    "prop_already_proposed": {
        "fr": "vous avez déjà proposé cette solution pour ce besoin.",
        "en": "you already proposed this solution for this need.",
    },
    "prop_not_yours": {
        "fr": "cette solution n'est pas (ou plus) l'une de vos solutions au catalogue.",
        "en": "this solution is not (or no longer) one of your catalogue solutions.",
    },
    "prop_not_found": {"fr": "ce besoin n'existe plus.", "en": "this need no longer exists."},
    "prop_self": {"fr": "c'est votre propre besoin.", "en": "this is your own need."},
    "prop_empty_pitch": {
        "fr": "le message est vide.",
        "en": "the message is empty.",
    },
    "prop_failed": {
        "fr": "Je n'ai pas pu envoyer la proposition pour l'instant. Réessayez dans un moment.",
        "en": "I could not send the proposal just now. Please try again in a moment.",
    },
    "prop_stale": {
        "fr": "Cette liste n'est plus à jour : tapez /besoinsouverts pour la revoir.",
        "en": "This list is out of date: type /openneeds to see it again.",
    },
    # buyer side: a proposal received, answered, turned off
    "prop_request": {
        "fr": "Une start-up propose sa solution pour votre besoin « {about} » :\n"
        "« {solution} » ({organisation}) — {card}\nSon message : {pitch}\n"
        "Acceptez-vous d'échanger avec elle ? Vos coordonnées ne lui seront transmises "
        "que si vous acceptez.",
        "en": 'A start-up proposes its solution for your need "{about}":\n'
        '"{solution}" ({organisation}) — {card}\nIts message: {pitch}\n'
        "Will you talk with it? Your details are shared only if you accept.",
    },
    "prop_off_button": {
        "fr": "Ne plus recevoir de propositions pour ce besoin",
        "en": "No more proposals for this need",
    },
    "prop_off_done": {
        "fr": "C'est noté : plus aucune proposition pour « {text} ». Celles déjà reçues "
        "attendent votre réponse. Vous pouvez rouvrir ce besoin aux propositions dans "
        "/mesbesoins.",
        "en": 'Noted: no more proposals for "{text}". Those already received wait for your '
        "answer. You can reopen this need to proposals in /myneeds.",
    },
    "prop_on_done": {
        "fr": "Ce besoin est de nouveau ouvert aux propositions : « {text} ».",
        "en": 'This need takes proposals again: "{text}".',
    },
    "prop_not_yours_need": {
        "fr": "Ce besoin n'est pas le vôtre, ou n'existe plus.",
        "en": "This need is not yours, or no longer exists.",
    },
    "prop_declined": {
        "fr": "La collectivité ne donne pas suite à votre proposition « {solution} » pour le "
        "besoin « {about} ». Aucune coordonnée n'a été transmise, ni dans un sens ni dans "
        "l'autre. D'autres besoins vous attendent peut-être : /besoinsouverts.",
        "en": 'The local authority does not take up your proposal "{solution}" for the need '
        '"{about}". No details were shared either way. Other needs may fit: /openneeds.',
    },
    "prop_accepted": {
        "fr": "Bonne nouvelle : {who} accepte d'échanger au sujet de votre proposition "
        "« {solution} ». Coordonnées : {contact}",
        "en": 'Good news: {who} agreed to talk about your proposal "{solution}". '
        "Contact details: {contact}",
    },
    "prop_accepted_target": {
        "fr": "Proposition acceptée. Voici les coordonnées de la start-up de « {solution} » : "
        "{contact}. Les vôtres lui ont été transmises.",
        "en": 'Proposal accepted. Here are the details of the start-up behind "{solution}": '
        "{contact}. Yours were shared with it.",
    },
    "prop_received_header": {
        "fr": "Propositions en attente pour « {text} », les plus adaptées d'abord :",
        "en": 'Proposals waiting for "{text}", best fit first:',
    },
    "prop_received_line": {
        "fr": "{n}. « {solution} »{organisation} — {pitch}",
        "en": '{n}. "{solution}"{organisation} — {pitch}',
    },
    "prop_received_none": {
        "fr": "Aucune proposition en attente pour ce besoin.",
        "en": "No proposal waiting for this need.",
    },
    "prop_accept_n": {"fr": "Accepter n°{n}", "en": "Accept no. {n}"},
    "prop_decline_n": {"fr": "Refuser n°{n}", "en": "Decline no. {n}"},
    # buyer side: the need card and /mesbesoins
    "card_proposals": {
        "fr": "Ouvert aux propositions de start-up : {value}. Les start-up dont la solution "
        "correspond voient ce besoin anonymisé (thème, taille, département ; ni votre nom, "
        "ni celui de votre collectivité) et peuvent vous proposer leur solution. Vous "
        "acceptez ou refusez chacune ; vos coordonnées ne sont transmises que si vous "
        "acceptez.",
        "en": "Open to start-ups' proposals: {value}. Start-ups whose solution fits see this "
        "need anonymised (theme, size, département; neither your name nor your authority's) "
        "and may propose their solution. You accept or decline each one; your details are "
        "shared only if you accept.",
    },
    "card_proposals_button": {
        "fr": "Ouvert aux propositions : {value}",
        "en": "Open to proposals: {value}",
    },
    "yes_word": {"fr": "oui", "en": "yes"},
    "no_word": {"fr": "non", "en": "no"},
    "myneeds_proposals": {
        "fr": "   Propositions de start-up : {state}{waiting}",
        "en": "   Start-ups' proposals: {state}{waiting}",
    },
    "myneeds_proposals_open": {"fr": "ouvert", "en": "open"},
    "myneeds_proposals_closed": {"fr": "fermé", "en": "closed"},
    "myneeds_proposals_waiting": {"fr": ", {count} en attente", "en": ", {count} waiting"},
    "myneeds_props_off": {
        "fr": "Fermer aux propositions (n°{n})",
        "en": "Stop proposals (no. {n})",
    },
    "myneeds_props_on": {
        "fr": "Ouvrir aux propositions (n°{n})",
        "en": "Take proposals (no. {n})",
    },
    "myneeds_props_list": {
        "fr": "Propositions reçues n°{n} ({count})",
        "en": "Proposals received no. {n} ({count})",
    },
    # --- end of proposals (issue 21) -----------------------------------------------------
    "idle_hint": {
        "fr": "Je n'ai pas bien compris. Décrivez votre besoin en une ou deux phrases "
        "(par exemple : « Nous voulons tester une solution pour réduire les dépôts sauvages »), "
        "ou tapez /aide.",
        "en": "I did not quite understand. Describe your need in a sentence or two "
        '(for example: "We want to test a way to reduce fly-tipping"), or type /help.',
    },
    "stale_button": {
        "fr": "Ce bouton correspond à une étape précédente. Reprenons :",
        "en": "That button belongs to an earlier step. Let us pick up where we were:",
    },
    "too_long": {
        "fr": "Votre message est trop long (plus de {max} caractères). Pouvez-vous le raccourcir ?",
        "en": "Your message is too long (over {max} characters). Could you shorten it?",
    },
    "empty": {
        "fr": "Je n'ai reçu aucun texte. Écrivez votre message, ou tapez /aide.",
        "en": "I received no text. Please write your message, or type /help.",
    },
    "text_only": {
        "fr": "Je ne lis que les messages écrits. Pouvez-vous me répondre par du texte ?",
        "en": "I can only read text messages. Could you reply in writing?",
    },
    "unknown_command": {
        "fr": "Je ne connais pas la commande {command}.",
        "en": "I do not know the command {command}.",
    },
    "unexpected": {
        "fr": "Je n'ai pas compris cette réponse. Utilisez les boutons, ou tapez /annuler "
        "pour arrêter.",
        "en": "I did not understand that answer. Please use the buttons, or type /cancel to stop.",
    },
    "busy": {
        "fr": "Vous avez une démarche en cours. Terminez-la, ou tapez /annuler pour l'abandonner.",
        "en": "You have something in progress. Finish it, or type /cancel to leave it.",
    },
    "cancelled": {
        "fr": "C'est annulé. Ce qui était déjà enregistré est conservé.",
        "en": "Cancelled. Anything already saved is kept.",
    },
    "nothing_to_cancel": {
        "fr": "Il n'y a rien en cours. Tapez /aide pour voir ce que je sais faire.",
        "en": "Nothing is in progress. Type /help to see what I can do.",
    },
    "error": {
        "fr": "Désolé, un incident technique m'empêche de répondre. Réessayez dans un "
        "instant : rien n'a été perdu.",
        "en": "Sorry, a technical problem prevents me from answering. Please try again in a "
        "moment: nothing was lost.",
    },
    "language_ask": {
        "fr": "Choisissez votre langue :",
        "en": "Choose your language:",
    },
    "language_set": {
        "fr": "Entendu, je vous répondrai en français.",
        "en": "Fine, I will answer in English.",
    },
    "lang_fr": {"fr": "Français", "en": "Français"},
    "lang_en": {"fr": "English", "en": "English"},
    "skip": {"fr": "Passer", "en": "Skip"},
    "done": {"fr": "Terminé", "en": "Done"},
    "back": {"fr": "Retour", "en": "Back"},
    "not_specified": {"fr": "non précisé", "en": "not specified"},
    "none": {"fr": "aucune", "en": "none"},
    "to_define": {"fr": "à définir", "en": "to be defined"},
    # --- Buyer flow ------------------------------------------------------------------------
    "need_ask": {
        "fr": "Décrivez votre besoin avec vos mots, en quelques phrases : le problème à "
        "résoudre, votre collectivité, ce que vous aimeriez essayer. Inutile d'employer le "
        "vocabulaire des marchés publics.",
        "en": "Describe your need in your own words, in a few sentences: the problem to "
        "solve, your local authority, what you would like to try. No procurement jargon "
        "needed.",
    },
    "need_too_short": {
        "fr": "Pouvez-vous en dire un peu plus ? Quelques phrases suffisent : le problème, "
        "pour qui, où.",
        "en": "Could you say a little more? A few sentences are enough: the problem, for "
        "whom, where.",
    },
    "need_understood": {
        "fr": "Merci. Quelques questions rapides pour préciser (vous pouvez passer chacune).",
        "en": "Thank you. A few quick questions to refine it (you can skip any of them).",
    },
    "ask_territory": {
        "fr": "Pour quelle collectivité ? Indiquez le nom de la commune, de "
        "l'intercommunalité ou du département.",
        "en": "For which local authority? Give the name of the municipality, the "
        "inter-municipal body or the département.",
    },
    "territory_ambiguous": {
        "fr": "Plusieurs collectivités portent ce nom. Laquelle ?",
        "en": "Several local authorities have this name. Which one?",
    },
    "territory_not_found": {
        "fr": "Je ne trouve pas « {text} ». Essayez le nom exact de la commune ou de "
        "l'intercommunalité, ou passez.",
        "en": 'I cannot find "{text}". Try the exact name of the municipality or '
        "inter-municipal body, or skip.",
    },
    "territory_noted": {"fr": "Noté : {territory}.", "en": "Noted: {territory}."},
    "ask_stage": {"fr": "Où en êtes-vous ?", "en": "Where are you at?"},
    "stage_explore": {"fr": "Explorer des idées", "en": "Exploring ideas"},
    "stage_experiment": {"fr": "Tester, expérimenter", "en": "Testing, piloting"},
    "stage_buy": {"fr": "Acheter, déployer", "en": "Buying, rolling out"},
    "ask_budget": {
        "fr": "Quel budget envisagez-vous, hors taxes ? Un ordre de grandeur suffit.",
        "en": "What budget do you have in mind, excluding VAT? A rough idea is enough.",
    },
    "budget_lt60k": {"fr": "Moins de 60 k€", "en": "Under €60k"},
    "budget_60-100k": {"fr": "De 60 à 100 k€", "en": "€60k to €100k"},
    "budget_100-216k": {"fr": "De 100 à 216 k€", "en": "€100k to €216k"},
    "budget_gt216k": {"fr": "216 k€ ou plus", "en": "€216k or more"},
    # a band stored before the 2026 thresholds (matcher.procurement.LEGACY_BANDS)
    "budget_40-100k": {"fr": "De 40 à 100 k€", "en": "€40k to €100k"},
    "budget_unknown": {"fr": "Je ne sais pas encore", "en": "Not known yet"},
    "budget_amount": {"fr": "{amount} € HT", "en": "€{amount} excl. VAT"},
    "ask_timing": {"fr": "Dans quel délai ?", "en": "Within what time frame?"},
    "timing_lt3m": {"fr": "Moins de 3 mois", "en": "Under 3 months"},
    "timing_3-12m": {"fr": "De 3 à 12 mois", "en": "3 to 12 months"},
    "timing_gt1y": {"fr": "Plus d'un an", "en": "Over a year"},
    "ask_constraints": {
        "fr": "Avez-vous des exigences particulières ? Touchez pour cocher, puis « Terminé ».",
        "en": 'Any particular requirements? Tap to tick, then "Done".',
    },
    "constraint_rgpd": {"fr": "Données et RGPD", "en": "Data and GDPR"},
    "constraint_accessibilite": {"fr": "Accessibilité", "en": "Accessibility"},
    "constraint_sobriete": {"fr": "Sobriété énergétique", "en": "Energy efficiency"},
    "constraint_interoperabilite": {"fr": "Interopérabilité", "en": "Interoperability"},
    "constraint_souverainete": {"fr": "Hébergement souverain", "en": "Sovereign hosting"},
    "ask_themes": {
        "fr": "Quels thèmes ? Touchez pour cocher, puis « Terminé ».",
        "en": 'Which themes? Tap to tick, then "Done".',
    },
    "card_title": {"fr": "Fiche besoin", "en": "Need summary"},
    "card_need": {"fr": "Besoin : {value}", "en": "Need: {value}"},
    "card_themes": {"fr": "Thèmes : {value}", "en": "Themes: {value}"},
    "card_territory": {"fr": "Territoire : {value}", "en": "Territory: {value}"},
    "card_stage": {"fr": "Étape : {value}", "en": "Stage: {value}"},
    "card_budget": {"fr": "Budget : {value}", "en": "Budget: {value}"},
    "card_timing": {"fr": "Délai : {value}", "en": "Time frame: {value}"},
    "card_constraints": {"fr": "Exigences : {value}", "en": "Requirements: {value}"},
    "card_route": {
        "fr": "Piste d'achat (indication, pas un avis juridique) :",
        "en": "Possible procurement route (guidance, not legal advice):",
    },
    "card_question": {
        "fr": "Cette fiche vous convient-elle ?",
        "en": "Does this summary look right?",
    },
    "confirm": {"fr": "Confirmer", "en": "Confirm"},
    "edit": {"fr": "Modifier", "en": "Edit"},
    "edit_which": {"fr": "Que souhaitez-vous modifier ?", "en": "What would you like to change?"},
    "field_text": {"fr": "Description", "en": "Description"},
    "field_themes": {"fr": "Thèmes", "en": "Themes"},
    "field_territory": {"fr": "Territoire", "en": "Territory"},
    "field_stage": {"fr": "Étape", "en": "Stage"},
    "field_budget": {"fr": "Budget", "en": "Budget"},
    "field_timing": {"fr": "Délai", "en": "Time frame"},
    "field_constraints": {"fr": "Exigences", "en": "Requirements"},
    "edit_text": {
        "fr": "Réécrivez votre besoin en quelques phrases :",
        "en": "Rewrite your need in a few sentences:",
    },
    # Procurement routes (matcher.procurement codes): each says why it applies to this need
    "route_sourcing": {
        "fr": "Vous en êtes à explorer : avant toute consultation, échangez librement avec "
        "des entreprises pour connaître l'offre (sourçage, art. R2111-1 du code de la "
        "commande publique), sans les favoriser ensuite.",
        "en": "You are exploring: before any tender, talk freely with companies to learn "
        "what exists (sourcing, art. R2111-1 of the French public procurement code), "
        "without favouring them later.",
    },
    "route_direct": {
        "fr": "Votre budget, {budget} : sous 60\u202f000 € HT (fournitures, services ; "
        "100\u202f000 € HT pour des travaux), un marché sans publicité ni mise en concurrence "
        "est possible (art. R2122-8, décret n° 2025-1386) ; demander trois devis reste une "
        "bonne pratique.",
        "en": "Your budget, {budget}: under €60,000 excl. VAT (supplies, services; €100,000 for "
        "works), a contract without publicity or competition is possible (art. R2122-8, "
        "decree 2025-1386); asking for three quotes remains good practice.",
    },
    "route_split": {
        "fr": "Votre budget, {budget} : sous 60\u202f000 € HT, ni publicité ni mise en "
        "concurrence (art. R2122-8) ; au-delà, voir la ligne suivante. Quel est le montant "
        "estimé HT ?",
        "en": "Your budget, {budget}: under €60,000 excl. VAT, no publicity or competition "
        "(art. R2122-8); above it, see the next line. What is the estimated amount "
        "excl. VAT?",
    },
    "route_innovative": {
        "fr": "Votre budget, {budget}, sous 100\u202f000 € HT : si la solution est innovante "
        "(nouvelle ou sensiblement améliorée), vous pouvez l'acheter sans publicité ni mise en "
        "concurrence (achat innovant, art. R2122-9-1 du code de la commande publique).",
        "en": "Your budget, {budget}, under €100,000 excl. VAT: if the solution is innovative "
        "(new or significantly improved), you may buy it without publicity or competition "
        "(innovative purchase, art. R2122-9-1 of the French public procurement code).",
    },
    "route_mapa": {
        "fr": "Votre budget, {budget} : pour une solution qui n'est pas innovante, procédure "
        "adaptée (MAPA) avec publicité, sous le seuil européen de 216\u202f000 € HT "
        "(fournitures, services).",
        "en": "Your budget, {budget}: for a solution that is not innovative, an adapted "
        "procedure (MAPA) with publicity, under the European threshold of €216,000 excl. "
        "VAT (supplies, services).",
    },
    "route_partnership": {
        "fr": "Vous voulez tester : si la solution reste à développer, le partenariat "
        "d'innovation couvre la recherche et développement puis l'achat, sans nouvelle mise "
        "en concurrence (art. L2172-3 et R2172-20 et suivants).",
        "en": "You want to test: if the solution has yet to be developed, an innovation "
        "partnership covers research and development, then the purchase, without a new "
        "competition (art. L2172-3 and R2172-20 ff.).",
    },
    "route_formal": {
        "fr": "Votre budget, {budget} : à partir de 216\u202f000 € HT (fournitures, services ; "
        "5\u202f404\u202f000 € HT pour des travaux), procédure formalisée, par exemple un appel "
        "d'offres (seuils européens 2026-2027).",
        "en": "Your budget, {budget}: from €216,000 excl. VAT (supplies, services; €5,404,000 "
        "for works), a formal procedure such as an open tender (European thresholds "
        "2026-2027).",
    },
    "route_sourcing_tender": {
        "fr": "Une consultation est à prévoir : un sourçage préalable (art. R2111-1) aide à "
        "écrire un cahier des charges que le marché sait satisfaire.",
        "en": "A tender lies ahead: sourcing first (art. R2111-1) helps write "
        "specifications the market can meet.",
    },
    "route_central": {
        "fr": "À tout montant : si l'UGAP ou une autre centrale d'achat (régionale, "
        "thématique) propose déjà ce type de solution, y recourir vous dispense de "
        "publicité et de mise en concurrence (art. L2113-2 et L2113-4).",
        "en": "At any amount: if UGAP or another central purchasing body (regional, "
        "sector) already offers this kind of solution, buying through it spares you "
        "publicity and competition (art. L2113-2 and L2113-4).",
    },
    "route_unknown": {
        "fr": "Budget à préciser, et c'est lui qui décide : sous 60\u202f000 € HT "
        "(100\u202f000 € HT pour des travaux), ni publicité ni mise en concurrence ; achat "
        "innovant jusqu'à 100\u202f000 € HT ; procédure formalisée à partir de "
        "216\u202f000 € HT. Question à se poser : "
        "quel est le montant estimé HT de tout le besoin, sur toute sa durée ?",
        "en": "Budget to be set, and it decides: under €60,000 excl. VAT (€100,000 for "
        "works), no publicity or competition; innovative purchase up to €100,000; a formal "
        "procedure from €216,000. The question to answer: what is the estimated amount "
        "excl. VAT of the whole need, over its whole duration?",
    },
    "route_check": {
        "fr": "Seuils en vigueur au 2 décembre 2026 ; vérifiez-les avec votre service achats.",
        "en": "Thresholds in force on 2 December 2026; check them with your procurement team.",
    },
    # Financing hints (matcher.financing reason codes)
    "card_financing": {
        "fr": "Pistes de financement (une indication, à vérifier auprès du financeur) :",
        "en": "Possible funding (an indication, to check with the funder):",
    },
    "card_financing_none": {
        "fr": "Pistes de financement : aucun dispositif de notre table ne correspond à ce "
        "besoin (collectivité, taille, thème, étape).",
        "en": "Possible funding: no scheme in our table fits this need (authority, size, "
        "theme, stage).",
    },
    "fin_line": {"fr": "{name} ({funder}) — {why}", "en": "{name} ({funder}) — {why}"},
    "fin_kind": {"fr": "ouvert aux {kind}", "en": "open to {kind}"},
    "fin_kind_commune": {"fr": "communes", "en": "municipalities"},
    "fin_kind_epci": {"fr": "intercommunalités", "en": "inter-municipal bodies"},
    "fin_kind_ept": {"fr": "établissements publics territoriaux", "en": "territorial bodies"},
    "fin_kind_departement": {"fr": "départements", "en": "départements"},
    "fin_kind_region": {"fr": "régions", "en": "regions"},
    "fin_size_max": {
        "fr": "jusqu'à {max} habitants (vous : {population})",
        "en": "up to {max} inhabitants (you: {population})",
    },
    "fin_size_min": {
        "fr": "à partir de {min} habitants (vous : {population})",
        "en": "from {min} inhabitants (you: {population})",
    },
    "fin_size_unchecked_max": {
        "fr": "réservé aux collectivités de {max} habitants au plus : à vérifier",
        "en": "only for authorities of at most {max} inhabitants: to check",
    },
    "fin_size_unchecked_min": {
        "fr": "réservé aux collectivités d'au moins {min} habitants : à vérifier",
        "en": "only for authorities of at least {min} inhabitants: to check",
    },
    "fin_theme": {"fr": "thème {themes}", "en": "theme {themes}"},
    "fin_all_themes": {"fr": "tous thèmes", "en": "any theme"},
    "fin_stage": {
        "fr": "finance {funds}, pour l'étape « {stage} »",
        "en": 'funds {funds}, for the "{stage}" stage',
    },
    "fin_funds_study": {"fr": "les études", "en": "studies"},
    "fin_funds_experimentation": {"fr": "l'expérimentation", "en": "experiments"},
    "fin_funds_investment": {"fr": "l'investissement", "en": "investment"},
    "fin_funds_operation": {"fr": "le fonctionnement", "en": "running costs"},
    "fin_closed_list": {
        "fr": "liste fermée : seulement pour les collectivités déjà retenues",
        "en": "closed list: only for the authorities already selected",
    },
    "fin_button": {"fr": "Financements", "en": "Funding"},
    "fin_list_header": {
        "fr": "Financements possibles pour ce besoin. C'est une indication tirée de notre table "
        "des dispositifs : vérifiez l'éligibilité, les taux et les dates auprès du financeur.",
        "en": "Possible funding for this need. This is an indication from our table of "
        "schemes: check eligibility, rates and dates with the funder.",
    },
    "fin_list_item": {
        "fr": "{rank}. {name} — {funder}\nPourquoi : {why}",
        "en": "{rank}. {name} — {funder}\nWhy: {why}",
    },
    "fin_rate": {"fr": "Taux : {value}", "en": "Rate: {value}"},
    "fin_cap": {"fr": "Plafond : {value}", "en": "Cap: {value}"},
    "fin_link": {"fr": "Lien : {url}", "en": "Link: {url}"},
    "fin_no_link": {
        "fr": "Lien : pas de page nationale ; voir le site de votre Région ou "
        "aides-territoires.beta.gouv.fr",
        "en": "Link: no national page; see your Région's website or aides-territoires.beta.gouv.fr",
    },
    "fin_checked": {"fr": "Vérifié le {date}", "en": "Checked on {date}"},
    "fin_list_none": {
        "fr": "Aucun dispositif de notre table des financements ne correspond à ce besoin "
        "(type de collectivité, taille, thème, étape). La plateforme publique "
        "aides-territoires.beta.gouv.fr recense d'autres aides par territoire.",
        "en": "No scheme in our funding table fits this need (kind of authority, size, "
        "theme, stage). The public platform aides-territoires.beta.gouv.fr lists other "
        "schemes by territory.",
    },
    # Results
    "need_saved": {
        "fr": "Votre besoin est enregistré. Voici les solutions les plus proches :",
        "en": "Your need is saved. Here are the closest solutions:",
    },
    "more_results_header": {
        "fr": "Résultats suivants :",
        "en": "Next results:",
    },
    "no_results": {
        "fr": "Je n'ai pas trouvé de solution proche dans le catalogue pour l'instant. Votre "
        "besoin reste enregistré et sera présenté aux start-up qui s'inscrivent.",
        "en": "I found no close solution in the catalogue for now. Your need stays saved and "
        "will be shown to start-ups as they register.",
    },
    "no_more_results": {
        "fr": "Il n'y a pas d'autre résultat.",
        "en": "There are no more results.",
    },
    "search_unavailable": {
        "fr": "La recherche est momentanément indisponible. Votre besoin est bien enregistré ; "
        "réessayez avec « Plus de résultats » dans un instant.",
        "en": 'Search is temporarily unavailable. Your need is saved; try "More" again in a '
        "moment.",
    },
    "result_line": {
        "fr": "{rank}. {title} — {reasons} ({trust})",
        "en": "{rank}. {title} — {reasons} ({trust})",
    },
    "more": {"fr": "Plus de résultats", "en": "More results"},
    # Result cards and the full card of a catalogue entry ("Fiche"), issue 14
    "result_card_title": {"fr": "{rank}. {title}", "en": "{rank}. {title}"},
    "result_card_pitch": {"fr": "{pitch}", "en": "What it does (in French): {pitch}"},
    "result_card_by": {"fr": "Portée par : {who}", "en": "Carried by: {who}"},
    "result_card_status": {
        "fr": "Maturité : {maturity} · Fiche {trust}",
        "en": "Maturity: {maturity} · {trust} entry",
    },
    "result_card_status_trust": {"fr": "Fiche {trust}", "en": "{trust} entry"},
    "result_card_why": {"fr": "Pourquoi : {reasons}", "en": "Why: {reasons}"},
    "result_card_why_label": {"fr": "Pourquoi", "en": "Why"},
    "result_card_pitch_note": {"fr": "texte du catalogue", "en": "catalogue text, in French"},
    "btn_sheet": {"fr": "Fiche", "en": "Details"},
    "btn_sheet_n": {"fr": "Fiche {n}", "en": "Details {n}"},
    "btn_website": {"fr": "Site web", "en": "Website"},
    "btn_website_n": {"fr": "Site {n}", "en": "Website {n}"},
    "btn_sheet_intro": {"fr": "Demander une mise en relation", "en": "Ask for an introduction"},
    "btn_follow": {"fr": "Suivre", "en": "Follow"},
    "btn_unfollow": {"fr": "Ne plus suivre", "en": "Unfollow"},
    "reason_answers": {"fr": "répond à : « {text} »", "en": 'answers: "{text}" (in French)'},
    "reason_fit_kind": {"fr": "conçue pour les {kind}", "en": "designed for {kind}"},
    "reason_fit_band": {"fr": "de {band}", "en": "of {band}"},
    "reason_fit_stage_buy": {
        "fr": "déjà déployée, prête à acheter",
        "en": "already deployed, ready to buy",
    },
    "reason_fit_stage_experiment_pilot": {
        "fr": "pilote en cours, ouverte à l'expérimentation",
        "en": "pilot under way, open to trials",
    },
    "reason_fit_stage_experiment_deployed": {
        "fr": "déjà déployée ailleurs",
        "en": "already deployed elsewhere",
    },
    "reason_evidence_one": {
        "fr": "utilisée par 1 collectivité",
        "en": "used by 1 local authority",
    },
    "reason_evidence_many": {
        "fr": "utilisée par {n} collectivités",
        "en": "used by {n} local authorities",
    },
    "reason_evidence_same": {
        "fr": "{used}, dont {same} de votre taille",
        "en": "{used}, {same} of them your size",
    },
    "tried_elsewhere": {
        "fr": "Déjà tenté ailleurs (service arrêté, pour mémoire) : {items}",
        "en": "Already tried elsewhere (discontinued, for the record): {items}",
    },
    "tried_elsewhere_item": {"fr": "{title} ({why})", "en": "{title} ({why})"},
    "stopped_why_abandon": {
        "fr": "abandonné par son équipe",
        "en": "abandoned by its team",
    },
    "stopped_why_abandon-investigation": {
        "fr": "arrêté dès l'étude du problème, avant tout produit",
        "en": "stopped while studying the problem, before any product",
    },
    "stopped_why_unknown": {"fr": "arrêté, raison non précisée", "en": "stopped, reason unknown"},
    "sheet_title": {"fr": "Fiche : {title}", "en": "Details: {title}"},
    "sheet_mission": {"fr": "Mission : {text}", "en": "Mission (in French): {text}"},
    "sheet_description": {
        "fr": "Description : {text}",
        "en": "Description (in French): {text}",
    },
    "sheet_themes": {"fr": "Thèmes : {value}", "en": "Themes: {value}"},
    "sheet_targets": {"fr": "Pour : {value}", "en": "For: {value}"},
    "sheet_targets_all": {
        "fr": "toutes collectivités (pas de cible précisée)",
        "en": "any local authority (no target given)",
    },
    "sheet_references": {"fr": "Références : {value}", "en": "References: {value}"},
    "sheet_pricing": {"fr": "Tarifs : {value}", "en": "Pricing: {value}"},
    "sheet_pricing_none": {
        "fr": "Tarifs : non renseignés (à demander au porteur)",
        "en": "Pricing: not given (ask the carrier)",
    },
    "sheet_website": {"fr": "Site web : {url}", "en": "Website: {url}"},
    "sheet_rex_header": {
        "fr": "Collectivités qui l'ont utilisée :",
        "en": "Local authorities that used it:",
    },
    "sheet_rex_line": {"fr": "• {who} : {title} — {outcome}", "en": "• {who}: {title} — {outcome}"},
    "sheet_rex_more": {"fr": "… et {n} autres.", "en": "… and {n} more."},
    "sheet_rex_none": {
        "fr": "Pas encore de retour d'expérience d'une collectivité sur cette solution.",
        "en": "No experience report from a local authority on this solution yet.",
    },
    "sheet_stopped": {
        "fr": "Attention : ce service est arrêté ({why}).",
        "en": "Note: this service is discontinued ({why}).",
    },
    "sheet_following": {
        "fr": "Vous suivez cette solution (liste : /suivis).",
        "en": "You follow this solution (list: /following).",
    },
    "sheet_not_found": {
        "fr": "Cette fiche n'est plus disponible dans le catalogue.",
        "en": "This entry is no longer available in the catalogue.",
    },
    "follow_solution_done": {
        "fr": "C'est noté : vous suivez « {title} ». « Suivre » garde cette solution dans votre "
        "liste /suivis, pour rouvrir sa fiche et demander une mise en relation plus tard ; "
        "vous pouvez arrêter à tout moment.",
        "en": 'Done: you follow "{title}". "Follow" keeps this solution in your /following '
        "list, to open its details and ask for an introduction later; you can stop at any "
        "time.",
    },
    "follow_solution_already": {
        "fr": "Vous suivez déjà « {title} » (liste : /suivis).",
        "en": 'You already follow "{title}" (list: /following).',
    },
    "unfollow_solution_done": {
        "fr": "Vous ne suivez plus « {title} ».",
        "en": 'You no longer follow "{title}".',
    },
    "unfollow_solution_none": {
        "fr": "Vous ne suiviez pas cette solution.",
        "en": "You were not following this solution.",
    },
    "followed_header": {
        "fr": "Solutions que vous suivez :",
        "en": "Solutions you follow:",
    },
    "followed_line": {"fr": "{n}. {title} — {maturity}", "en": "{n}. {title} — {maturity}"},
    "followed_none": {
        "fr": "Vous ne suivez aucune solution. Sur un résultat, ouvrez la « Fiche » puis "
        "choisissez « Suivre ».",
        "en": 'You follow no solution. On a result, open "Details" and choose "Follow".',
    },
    "maturity_unknown": {"fr": "maturité non précisée", "en": "maturity not given"},
    "cmd_followed": {"fr": "Solutions que je suis", "en": "Solutions I follow"},
    "peers_header": {
        "fr": "Collectivités qui ont déjà travaillé sur ce sujet :",
        "en": "Local authorities that have already worked on this:",
    },
    "peers_none": {
        "fr": "Pas encore de collectivité pair identifiée pour ce besoin.",
        "en": "No peer local authority found yet for this need.",
    },
    "next_steps": {"fr": "Et maintenant ?", "en": "What next?"},
    "follow_need": {"fr": "Suivre ce besoin", "en": "Follow this need"},
    "subscribe_digest": {"fr": "Recevoir la lettre hebdo", "en": "Get the weekly digest"},
    "ask_intro": {"fr": "Demander une mise en relation", "en": "Ask for an introduction"},
    "new_need": {"fr": "Nouveau besoin", "en": "New need"},
    "follow_done": {
        "fr": "C'est noté : vous recevrez chaque semaine les nouveautés liées à ce besoin.",
        "en": "Done: you will get weekly news related to this need.",
    },
    "digest_done": {
        "fr": "C'est noté : vous recevrez la lettre hebdomadaire le lundi matin. Vous pourrez "
        "vous désabonner à tout moment.",
        "en": "Done: you will get the weekly digest on Monday mornings. You can unsubscribe "
        "at any time.",
    },
    "digest_already": {
        "fr": "Vous êtes déjà abonné à la lettre hebdomadaire.",
        "en": "You are already subscribed to the weekly digest.",
    },
    "intro_pick": {
        "fr": "Avec qui souhaitez-vous être mis en relation ?",
        "en": "Who would you like to be introduced to?",
    },
    "intro_nothing": {
        "fr": "Il n'y a personne à qui vous présenter pour ce besoin pour l'instant.",
        "en": "There is no one to introduce you to for this need yet.",
    },
    "intro_unavailable": {
        "fr": "La mise en relation n'est pas encore disponible ici. Un facilitateur PIU peut "
        "vous aider en attendant.",
        "en": "Introductions are not available here yet. A PIU facilitator can help you in "
        "the meantime.",
    },
    "intro_failed": {
        "fr": "La demande n'a pas pu être transmise. Réessayez plus tard ou contactez un "
        "facilitateur.",
        "en": "The request could not be passed on. Please try again later or contact a "
        "facilitator.",
    },
    # Introductions: request_introduction / respond result codes (matcher.introductions)
    "intro_sent": {
        "fr": "Demande envoyée, en direct : votre interlocuteur utilise PIU et a accepté "
        "d'être sollicité. Vos coordonnées ne lui seront transmises que s'il accepte ; je "
        "vous préviendrai ici de sa réponse.",
        "en": "Request sent, directly: the other side uses PIU and agreed to be asked. Your "
        "details will only be shared if they accept; I will let you know their answer here.",
    },
    "intro_queued": {
        "fr": "Demande transmise à un facilitateur PIU : cet interlocuteur n'utilise pas PIU "
        "directement. Le facilitateur prend contact pour vous, puis je vous écris ici sa "
        "réponse. Vos coordonnées ne seront transmises qu'avec l'accord de votre "
        "interlocuteur.",
        "en": "Request passed on to a PIU facilitator: this contact does not use PIU "
        "directly. The facilitator makes contact for you, then I will tell you the answer "
        "here. Your details will only be shared with the other side's agreement.",
    },
    "intro_refused": {
        "fr": "Je ne peux pas transmettre cette demande : {reason}",
        "en": "I cannot pass this request on: {reason}",
    },
    "intro_entry_not_found": {
        "fr": "Cette fiche n'existe plus.",
        "en": "This entry no longer exists.",
    },
    "intro_accepted_ack": {
        "fr": "Merci, la mise en relation est acceptée. Vous recevez les coordonnées de votre "
        "interlocuteur, et il reçoit les vôtres.",
        "en": "Thank you, the introduction is accepted. You receive the other side's details, "
        "and they receive yours.",
    },
    "intro_not_found": {
        "fr": "Cette demande n'existe plus.",
        "en": "This request no longer exists.",
    },
    # Moderation outcomes (api/crud.py, delivered through the outbox)
    "moderation_approved": {
        "fr": "Bonne nouvelle : votre solution « {title} » a été validée et figure maintenant "
        "au catalogue PIU.",
        "en": 'Good news: your solution "{title}" has been approved and is now in the PIU '
        "catalogue.",
    },
    "moderation_rejected": {
        "fr": "Votre solution « {title} » n'a pas été retenue pour le catalogue. Motif : "
        "« {reason} ». Vous pouvez la réinscrire avec /inscrire après l'avoir complétée.",
        "en": 'Your solution "{title}" was not accepted for the catalogue. Reason: "{reason}". '
        "You can register it again with /register once completed.",
    },
    "moderation_merged": {
        "fr": "Votre solution « {title} » était déjà au catalogue : elle a été fusionnée avec "
        "la fiche « {into_title} ».",
        "en": 'Your solution "{title}" was already in the catalogue: it has been merged with '
        'the entry "{into_title}".',
    },
    # Reasons (matcher Reason codes)
    "reason_words": {"fr": "mots en commun : {terms}", "en": "shared words: {terms}"},
    "reason_themes": {"fr": "thème : {themes}", "en": "theme: {themes}"},
    "reason_size_fit": {
        "fr": "adaptée aux collectivités de votre taille",
        "en": "suited to authorities of your size",
    },
    "reason_size_fit_band": {
        "fr": "adaptée aux collectivités de {band}",
        "en": "suited to authorities of {band}",
    },
    "reason_trust": {"fr": "fiche {level}", "en": "{level} entry"},
    "reason_rex_count_one": {
        "fr": "un retour d'expérience",
        "en": "one experience report",
    },
    "reason_rex_count_many": {
        "fr": "{n} retours d'expérience",
        "en": "{n} experience reports",
    },
    "reason_maturity": {"fr": "maturité : {maturity}", "en": "maturity: {maturity}"},
    "reason_semantic": {
        "fr": "description proche de votre besoin",
        "en": "description close to your need",
    },
    "reason_generic": {"fr": "autre critère de proximité", "en": "other matching signal"},
    "reason_same_dep": {"fr": "même département", "en": "same département"},
    "reason_same_region": {"fr": "même région", "en": "same region"},
    "reason_same_need": {
        "fr": "même besoin, parlons-en",
        "en": "same need, let's talk",
    },
    "reason_outcome": {"fr": "résultat : {outcome}", "en": "outcome: {outcome}"},
    "reason_size": {"fr": "{band}", "en": "{band}"},
    "trust_declared": {"fr": "déclarée", "en": "self-declared"},
    "trust_qualified": {"fr": "qualifiée", "en": "qualified"},
    "trust_pilot_confirmed": {
        "fr": "pilote confirmé",
        "en": "pilot confirmed",
    },
    "outcome_ongoing": {"fr": "en cours", "en": "ongoing"},
    "outcome_success": {"fr": "réussite", "en": "success"},
    "outcome_stopped": {"fr": "arrêté", "en": "stopped"},
    "outcome_failed": {"fr": "échec (retour utile)", "en": "failed (useful lessons)"},
    "outcome_unknown": {"fr": "non renseigné", "en": "not reported"},
    "size_lt2k": {"fr": "moins de 2 000 habitants", "en": "under 2,000 inhabitants"},
    "size_2k-10k": {"fr": "2 000 à 10 000 habitants", "en": "2,000 to 10,000 inhabitants"},
    "size_10k-50k": {"fr": "10 000 à 50 000 habitants", "en": "10,000 to 50,000 inhabitants"},
    "size_50k-200k": {
        "fr": "50 000 à 200 000 habitants",
        "en": "50,000 to 200,000 inhabitants",
    },
    "size_gt200k": {"fr": "plus de 200 000 habitants", "en": "over 200,000 inhabitants"},
    "maturity_idea": {"fr": "idée", "en": "idea"},
    "maturity_prototype": {"fr": "prototype", "en": "prototype"},
    "maturity_pilot": {"fr": "pilote en cours", "en": "pilot under way"},
    "maturity_deployed": {"fr": "déployée", "en": "deployed"},
    "maturity_stopped": {"fr": "arrêtée", "en": "discontinued"},
    "kind_commune": {"fr": "Communes", "en": "Municipalities"},
    "kind_epci": {"fr": "Intercommunalités", "en": "Inter-municipal bodies"},
    "kind_departement": {"fr": "Départements", "en": "Départements"},
    "kind_region": {"fr": "Régions", "en": "Regions"},
    "territory_kind_commune": {"fr": "commune", "en": "municipality"},
    "territory_kind_epci": {"fr": "intercommunalité", "en": "inter-municipal body"},
    "territory_kind_ept": {"fr": "établissement public territorial", "en": "territorial body"},
    "territory_kind_departement": {"fr": "département", "en": "département"},
    "territory_kind_region": {"fr": "région", "en": "region"},
    "territory_desc": {
        "fr": "{name} ({kind}, {population} habitants)",
        "en": "{name} ({kind}, {population} inhabitants)",
    },
    "territory_desc_nopop": {"fr": "{name} ({kind})", "en": "{name} ({kind})"},
    # My needs
    "myneeds_header": {"fr": "Vos besoins :", "en": "Your needs:"},
    "myneeds_line": {
        "fr": "{n}. {text} — {status}, {date}",
        "en": "{n}. {text} — {status}, {date}",
    },
    "mysolutions_header": {"fr": "Vos solutions au catalogue :", "en": "Your solutions:"},
    "mysolutions_line": {
        "fr": "{n}. {title} — fiche {trust}, {review}",
        "en": "{n}. {title} — {trust}, {review}",
    },
    "mysolutions_none": {
        "fr": "Vous n'avez pas de solution au catalogue. Tapez /inscrire pour en inscrire une.",
        "en": "You have no solution in the catalogue. Type /register to add one.",
    },
    "mysolutions_withdraw": {"fr": "Retirer le n°{n}", "en": "Withdraw no. {n}"},
    "mysolutions_confirm": {
        "fr": "Retirer « {title} » du catalogue ? Elle ne sera plus proposée aux "
        "collectivités. Un facilitateur pourra la rétablir si vous le lui demandez.",
        "en": 'Withdraw "{title}" from the catalogue? It will no longer be shown to local '
        "authorities. A facilitator can restore it if you ask.",
    },
    "mysolutions_confirm_yes": {"fr": "Oui, retirer", "en": "Yes, withdraw"},
    "mysolutions_confirm_no": {"fr": "Non, la garder", "en": "No, keep it"},
    "mysolutions_kept": {"fr": "D'accord, elle reste au catalogue.", "en": "Fine, it stays."},
    "mysolutions_withdrawn": {
        "fr": "« {title} » est retirée du catalogue.",
        "en": '"{title}" is withdrawn from the catalogue.',
    },
    "mysolutions_not_found": {
        "fr": "Cette solution n'est plus au catalogue ou n'est pas la vôtre.",
        "en": "This solution is no longer in the catalogue or is not yours.",
    },
    "review_none": {"fr": "chargée par un facilitateur", "en": "loaded by a facilitator"},
    "review_pending": {"fr": "en attente de relecture", "en": "waiting for review"},
    "review_approved": {"fr": "relue et validée", "en": "reviewed and approved"},
    "review_rejected": {"fr": "non retenue", "en": "not accepted"},
    "review_merged": {"fr": "fusionnée avec une fiche existante", "en": "merged"},
    "myneeds_close": {"fr": "Clore le n°{n}", "en": "Close no. {n}"},
    "myneeds_reopen": {"fr": "Rouvrir le n°{n}", "en": "Reopen no. {n}"},
    "myneeds_closed": {
        "fr": "Besoin clos : « {text} ». Il n'est plus proposé aux start-up ni aux autres "
        "collectivités, et ne figure plus dans votre lettre. /mesbesoins pour le rouvrir.",
        "en": 'Need closed: "{text}". It is no longer shown to start-ups or other local '
        "authorities, nor in your digest. /myneeds to reopen it.",
    },
    "myneeds_reopened": {
        "fr": "Besoin rouvert : « {text} ».",
        "en": 'Need reopened: "{text}".',
    },
    "myneeds_not_found": {
        "fr": "Ce besoin n'existe plus ou n'est pas le vôtre.",
        "en": "This need no longer exists or is not yours.",
    },
    "myneeds_none": {
        "fr": "Vous n'avez pas encore de besoin enregistré. Tapez /besoin pour en décrire un.",
        "en": "You have no saved need yet. Type /need to describe one.",
    },
    "status_draft": {"fr": "brouillon", "en": "draft"},
    "status_open": {"fr": "ouvert", "en": "open"},
    "status_closed": {"fr": "clos", "en": "closed"},
    # --- Start-up registration ---------------------------------------------------------------
    "reg_intro": {
        "fr": "Inscrivons votre solution au catalogue (environ 5 minutes ; /annuler à tout "
        "moment).",
        "en": "Let us add your solution to the catalogue (about 5 minutes; /cancel at any time).",
    },
    "reg_org": {
        "fr": "Quel est le nom de votre organisation ?",
        "en": "What is your organisation's name?",
    },
    "reg_solution": {
        "fr": "Quel est le nom de votre solution ?",
        "en": "What is your solution called?",
    },
    "reg_name_invalid": {
        "fr": "Ce nom doit faire entre 2 et 200 caractères.",
        "en": "The name must be 2 to 200 characters long.",
    },
    "reg_description": {
        "fr": "Décrivez votre solution en un paragraphe : le problème résolu, pour qui, comment.",
        "en": "Describe your solution in one paragraph: the problem it solves, for whom, how.",
    },
    "reg_description_short": {
        "fr": "C'est un peu court ({n} mots). Pouvez-vous écrire au moins 20 mots ?",
        "en": "That is a bit short ({n} words). Could you write at least 20 words?",
    },
    "reg_duplicates": {
        "fr": "Avant d'aller plus loin : l'une de ces fiches du catalogue est-elle la vôtre ?",
        "en": "Before going further: is one of these catalogue entries yours?",
    },
    "reg_dup_yes": {"fr": "Oui, c'est la mienne", "en": "Yes, it is mine"},
    "reg_dup_no": {"fr": "Non, continuer", "en": "No, continue"},
    "reg_dup_claim": {
        "fr": "Votre solution est donc déjà au catalogue. Contactez un facilitateur PIU pour "
        "la revendiquer et la mettre à jour. J'arrête ici l'inscription.",
        "en": "So your solution is already in the catalogue. Please contact a PIU facilitator "
        "to claim and update it. I am stopping the registration here.",
    },
    "reg_themes": {
        "fr": "Quels thèmes concerne-t-elle ? Touchez pour cocher, puis « Terminé ».",
        "en": 'Which themes does it address? Tap to tick, then "Done".',
    },
    "reg_themes_required": {
        "fr": "Cochez au moins un thème, puis « Terminé ».",
        "en": 'Tick at least one theme, then "Done".',
    },
    "reg_kinds": {
        "fr": "Quelles collectivités visez-vous ? Touchez pour cocher, puis « Terminé » "
        "(aucune coche : toutes).",
        "en": 'Which local authorities do you target? Tap to tick, then "Done" (none ticked: all).',
    },
    "reg_sizes": {
        "fr": "Pour quelles tailles de collectivité ? Touchez pour cocher, puis « Terminé » "
        "(aucune coche : toutes).",
        "en": 'For which sizes of authority? Tap to tick, then "Done" (none ticked: all).',
    },
    "reg_maturity": {
        "fr": "Où en est votre solution ?",
        "en": "How mature is your solution?",
    },
    "reg_references": {
        "fr": "Où est-elle déjà utilisée ? Citez vos collectivités de référence, ou passez.",
        "en": "Where is it already used? Name your reference authorities, or skip.",
    },
    "reg_pricing": {
        "fr": "Quel est votre modèle de prix (abonnement, licence, prix par habitant…) ? "
        "Vous pouvez passer.",
        "en": "What is your pricing model (subscription, licence, per inhabitant…)? You can skip.",
    },
    "reg_website": {
        "fr": "L'adresse de votre site web ? Vous pouvez passer.",
        "en": "Your website address? You can skip.",
    },
    "reg_website_invalid": {
        "fr": "Cette adresse ne semble pas valide. Exemple : https://www.exemple.fr",
        "en": "This address does not look valid. Example: https://www.example.com",
    },
    "reg_consent": {
        "fr": "Pour que les collectivités intéressées puissent vous joindre, PIU peut "
        "conserver une adresse e-mail de contact.\nFinalité : mise en relation avec des "
        "collectivités, uniquement avec leur accord et le vôtre.\nPolitique de "
        "confidentialité, version {version}. Vous pourrez retirer votre accord à tout "
        "moment.\n\nAcceptez-vous ? Sans accord, aucune adresse n'est conservée : vous "
        "pouvez continuer sans contact (un facilitateur relaiera les demandes) ou annuler.",
        "en": "So that interested local authorities can reach you, PIU can keep a contact "
        "e-mail address.\nPurpose: introductions to local authorities, only with their "
        "agreement and yours.\nPrivacy policy, version {version}. You can withdraw your "
        "consent at any time.\n\nDo you agree? Without consent, no address is kept: you can "
        "continue without a contact (a facilitator will relay requests) or cancel.",
    },
    # a buyer's contact, before an introduction request or with /contact (bot/flows/contact.py)
    "contact_before_accept": {
        "fr": "Avant de transmettre vos coordonnées : vous n'en avez laissé aucune.",
        "en": "Before your contact details are passed on: you have not left any.",
    },
    "contact_offer": {
        "fr": "Pour que votre interlocuteur puisse vous répondre, PIU peut conserver une "
        "adresse e-mail de contact et la lui transmettre s'il accepte la mise en relation "
        "(jamais avant, jamais à d'autres).\nFinalité : mises en relation entre "
        "collectivités et porteurs de solutions.\nPolitique de confidentialité, version "
        "{version} (/confidentialite). Vous pourrez retirer votre accord à tout moment "
        "(/retrait) ou tout supprimer (/supprimer).\n\nSans adresse, votre interlocuteur "
        "ne connaîtra que le nom de votre collectivité.",
        "en": "So that the other side can answer you, PIU can keep a contact e-mail "
        "address and pass it on if they accept the introduction (never before, never to "
        "anyone else).\nPurpose: introductions between local authorities and solution "
        "providers.\nPrivacy policy, version {version} (/privacy). You can withdraw your "
        "consent at any time (/withdraw) or delete everything (/delete).\n\nWithout an "
        "address, the other side will only know the name of your local authority.",
    },
    "contact_current": {
        "fr": "Adresse de contact enregistrée : {email}",
        "en": "Contact address on file: {email}",
    },
    "contact_give": {"fr": "J'accepte et je la donne", "en": "I agree and give it"},
    "contact_skip": {"fr": "Continuer sans", "en": "Continue without"},
    "contact_email": {
        "fr": "Quelle adresse e-mail de contact ?",
        "en": "Which contact e-mail address?",
    },
    "contact_share": {
        "fr": "Merci. Acceptez-vous aussi que d'autres collectivités ayant un besoin proche "
        "du vôtre puissent vous demander une mise en relation ? Votre adresse ne leur est "
        "jamais affichée : elle n'est transmise que si vous acceptez leur demande.",
        "en": "Thank you. Do you also agree that other local authorities with a similar "
        "need may ask to be introduced to you? Your address is never shown to them: it is "
        "only passed on if you accept their request.",
    },
    "contact_share_yes": {"fr": "Oui", "en": "Yes"},
    "contact_share_no": {"fr": "Non", "en": "No"},
    "contact_saved": {
        "fr": "C'est noté. Votre adresse ne sera transmise que lors d'une mise en relation "
        "que vous avez demandée ou acceptée.",
        "en": "Noted. Your address will only be passed on for an introduction you asked "
        "for or accepted.",
    },
    "contact_saved_shared": {
        "fr": "C'est noté : des collectivités au besoin proche pourront vous demander une "
        "mise en relation, que vous accepterez ou non.",
        "en": "Noted: local authorities with a similar need may ask to be introduced to "
        "you; you will accept or decline each request.",
    },
    "contact_missing_hint": {
        "fr": "Vous n'avez pas laissé d'adresse : votre interlocuteur ne connaîtra que le "
        "nom de votre collectivité. /contact pour en laisser une.",
        "en": "You left no address: the other side will only know the name of your local "
        "authority. /contact to leave one.",
    },
    "reg_consent_yes": {"fr": "J'accepte", "en": "I agree"},
    "reg_consent_no": {"fr": "Continuer sans contact", "en": "Continue without contact"},
    "reg_consent_cancel": {"fr": "Annuler l'inscription", "en": "Cancel registration"},
    "reg_email": {
        "fr": "Quelle adresse e-mail de contact ?",
        "en": "Which contact e-mail address?",
    },
    "reg_email_invalid": {
        "fr": "Cette adresse e-mail ne semble pas valide. Exemple : contact@exemple.fr",
        "en": "This e-mail address does not look valid. Example: contact@example.com",
    },
    "reg_no_contact": {
        "fr": "D'accord, aucune adresse ne sera conservée.",
        "en": "Fine, no address will be kept.",
    },
    "reg_cancelled": {
        "fr": "Inscription annulée. Rien n'a été enregistré.",
        "en": "Registration cancelled. Nothing was saved.",
    },
    "reg_saved": {
        "fr": "Merci ! « {title} » est au catalogue, comme fiche déclarée : un facilitateur "
        "la relira avant de la qualifier.",
        "en": 'Thank you! "{title}" is in the catalogue as a self-declared entry: a '
        "facilitator will review it before qualifying it.",
    },
    "reg_needs_header": {
        "fr": "Besoins ouverts de collectivités proches de votre solution (anonymisés ; "
        "« Voir les besoins ouverts » pour leur proposer votre solution) :",
        "en": "Open needs of local authorities close to your solution (anonymised; "
        '"See open needs" to propose your solution to them):',
    },
    "reg_needs_none": {
        "fr": "Aucun besoin ouvert ne correspond pour l'instant. Les prochains vous seront "
        "signalés dans la lettre hebdomadaire si vous vous y abonnez.",
        "en": "No open need matches yet. New ones will appear in the weekly digest if you "
        "subscribe.",
    },
    "reg_pending": {
        "fr": "Vous avez déjà une inscription en cours. Terminez-la, ou tapez /annuler.",
        "en": "You already have a registration in progress. Finish it, or type /cancel.",
    },
    "reg_index_later": {
        "fr": "Votre fiche est enregistrée ; elle apparaîtra dans les recherches d'ici "
        "quelques minutes.",
        "en": "Your entry is saved; it will appear in searches within a few minutes.",
    },
    # peers (matcher/peers.py reasons, matcher/introductions.py Outbox keys and result codes)
    "reason_tried": {"fr": "a testé « {title} »", "en": 'tried "{title}"'},
    "reason_size_band": {"fr": "même strate : {band}", "en": "same size band: {band}"},
    "reason_size_band_near": {"fr": "taille proche : {band}", "en": "similar size: {band}"},
    "reason_same_dep_named": {"fr": "même département ({name})", "en": "same département ({name})"},
    "reason_same_region_named": {"fr": "même région ({name})", "en": "same region ({name})"},
    "peer_tried_period": {
        "fr": "a testé « {title} » ({period})",
        "en": 'tried "{title}" ({period})',
    },
    "peer_same_need": {
        "fr": "a le même besoin : « {text} » — parlons-en",
        "en": 'has the same need: "{text}" — let\'s talk',
    },
    "peer_failed_mark": {"fr": "⚠ {outcome}", "en": "⚠ {outcome}"},
    "reason_same_kind": {"fr": "même type de collectivité", "en": "same kind of authority"},
    "reason_lessons": {"fr": "enseignements : {text}", "en": "lessons: {text}"},
    "reason_more_rex": {
        "fr": "{n} autre(s) retour(s) d'expérience",
        "en": "{n} more experience report(s)",
    },
    "intro_request": {
        "fr": "{who} aimerait échanger avec vous au sujet de « {about} ». {message}\n"
        "Acceptez-vous la mise en relation ? Vos coordonnées ne seront transmises que si "
        "vous acceptez.",
        "en": '{who} would like to talk with you about "{about}". {message}\n'
        "Do you accept the introduction? Your details are shared only if you accept.",
    },
    "intro_request_anonymous": {
        "fr": "Une collectivité aimerait échanger avec vous au sujet de « {about} ». {message}\n"
        "Acceptez-vous la mise en relation ? Vos coordonnées ne seront transmises que si "
        "vous acceptez.",
        "en": 'A local authority would like to talk with you about "{about}". {message}\n'
        "Do you accept the introduction? Your details are shared only if you accept.",
    },
    "intro_accept_button": {"fr": "Accepter", "en": "Accept"},
    "intro_decline_button": {"fr": "Refuser", "en": "Decline"},
    "intro_accepted": {
        "fr": "Bonne nouvelle : {who} accepte d'échanger avec vous au sujet de « {about} ». "
        "Coordonnées : {contact}",
        "en": 'Good news: {who} agreed to talk with you about "{about}". '
        "Contact details: {contact}",
    },
    "intro_accepted_target": {
        "fr": "Mise en relation acceptée au sujet de « {about} ». Vos coordonnées ont été "
        "transmises ; voici celles de votre interlocuteur : {contact}",
        "en": 'Introduction accepted about "{about}". Your details were shared; here are '
        "the other side's: {contact}",
    },
    "intro_relayed_accepted": {
        "fr": "Bonne nouvelle : un facilitateur PIU a transmis votre demande au sujet de "
        "« {about} », et votre interlocuteur ({who}) accepte d'échanger avec vous.",
        "en": 'Good news: a PIU facilitator passed on your request about "{about}", and '
        "the other side ({who}) agreed to talk with you.",
    },
    "intro_facilitator_message": {
        "fr": "Message du facilitateur PIU : {message}",
        "en": "Message from the PIU facilitator: {message}",
    },
    "intro_declined": {
        "fr": "Votre interlocuteur n'est pas disponible pour échanger au sujet de « {about} » "
        "pour le moment. Aucune coordonnée n'a été transmise. Un facilitateur PIU peut vous "
        "orienter vers d'autres collectivités.",
        "en": 'The other side is not available to talk about "{about}" for now. No details '
        "were shared. A PIU facilitator can point you to other peers.",
    },
    "intro_declined_ack": {
        "fr": "C'est noté : la demande est déclinée et aucune coordonnée n'a été transmise.",
        "en": "Noted: the request is declined and no details were shared.",
    },
    "intro_expired": {
        "fr": "Votre demande de mise en relation au sujet de « {about} » est restée sans "
        "réponse et a expiré. Aucune coordonnée n'a été transmise.",
        "en": 'Your introduction request about "{about}" got no answer and has expired. '
        "No details were shared.",
    },
    "intro_cap_reached": {
        "fr": "cette personne a déjà reçu plusieurs demandes ce mois-ci. Réessayez dans "
        "quelques semaines, ou demandez à un facilitateur PIU.",
        "en": "this person has already received several requests this month. Please try "
        "again in a few weeks, or ask a PIU facilitator.",
    },
    "intro_already_requested": {
        "fr": "Vous avez déjà une demande en cours auprès de ce contact.",
        "en": "You already have a pending request with this contact.",
    },
    "intro_no_contact": {
        "fr": "ce contact n'a pas accepté d'être sollicité. Un facilitateur PIU peut vous "
        "aider à trouver le bon interlocuteur.",
        "en": "this contact has not agreed to be contacted. A PIU facilitator can help you "
        "find the right person.",
    },
    "intro_self": {
        "fr": "il s'agit de votre propre fiche.",
        "en": "this is your own entry.",
    },
    "intro_not_target": {
        "fr": "Cette demande ne vous est pas adressée.",
        "en": "This request is not addressed to you.",
    },
    "intro_already_answered": {
        "fr": "Cette demande a déjà reçu une réponse.",
        "en": "This request has already been answered.",
    },
    # digest (owned by digest/: weekly digest texts and /digest status) ---------------------
    "digest_header": {
        "fr": "Votre lettre PIU : les nouveautés depuis le {since}.",
        "en": "Your PIU digest: what is new since {since}.",
    },
    "digest_more": {"fr": "… et {n} de plus.", "en": "… and {n} more."},
    "digest_solutions_title": {
        "fr": "Nouvelles solutions pour vos besoins ouverts :",
        "en": "New solutions for your open needs:",
    },
    "digest_solution_line": {
        "fr": "• {title} — {mission}\n  (pour : {need})",
        "en": "• {title} — {mission}\n  (for: {need})",
    },
    "digest_financing_title": {
        "fr": "Nouveaux financements possibles pour vos besoins ouverts (une indication, à "
        "vérifier auprès du financeur) :",
        "en": "New possible funding for your open needs (an indication, to check with the funder):",
    },
    "digest_financing_line": {
        "fr": "• {name} ({funder}) — {why}\n  (pour : {need})\n  {link}",
        "en": "• {name} ({funder}) — {why}\n  (for: {need})\n  {link}",
    },
    "digest_rex_title": {
        "fr": "Nouveaux retours d'expérience de collectivités de votre taille :",
        "en": "New experience reports from authorities of your size:",
    },
    "digest_rex_line": {
        "fr": "• {title} — {where} ({outcome})",
        "en": "• {title} — {where} ({outcome})",
    },
    "digest_outcome_ongoing": {"fr": "en cours", "en": "ongoing"},
    "digest_outcome_success": {"fr": "réussi", "en": "successful"},
    "digest_outcome_stopped": {"fr": "arrêté", "en": "stopped"},
    "digest_outcome_failed": {"fr": "échec", "en": "failed"},
    "digest_outcome_unknown": {"fr": "résultat inconnu", "en": "outcome unknown"},
    "digest_needs_title": {
        "fr": "Nouveaux besoins de collectivités proches de vos solutions :",
        "en": "New needs of local authorities close to your solutions:",
    },
    "digest_need_line": {
        "fr": "• {text} — {where}\n  (votre solution : {solution})",
        "en": "• {text} — {where}\n  (your solution: {solution})",
    },
    "digest_intros_title": {
        "fr": "Demandes de mise en relation en attente de votre réponse :",
        "en": "Introduction requests waiting for your answer:",
    },
    "digest_intro_line": {"fr": "• {who} : {message}", "en": "• {who}: {message}"},
    "digest_intro_button": {"fr": "Répondre", "en": "Answer"},
    "digest_older_intros": {
        "fr": "Et {n} demande(s) plus ancienne(s) toujours en attente.",
        "en": "And {n} older request(s) still waiting.",
    },
    "digest_activity": {
        "fr": "Activité de la semaine : {needs} nouveau(x) besoin(s), {solutions} nouvelle(s) "
        "solution(s), {rex} retour(s) d'expérience, {introductions} mise(s) en relation.",
        "en": "This week's activity: {needs} new need(s), {solutions} new solution(s), "
        "{rex} experience report(s), {introductions} introduction(s).",
    },
    "digest_footer": {
        "fr": "Les boutons ouvrent le détail. /digest pour changer le jour, l'heure ou les thèmes.",
        "en": "The buttons open the details. /digest to change the day, hour or themes.",
    },
    "digest_status_weekly": {
        "fr": "Lettre hebdomadaire : chaque {day} à {hour} h (heure de Paris).{themes}",
        "en": "Weekly digest: every {day} at {hour}:00 (Paris time).{themes}",
    },
    "digest_status_themes": {"fr": " Thèmes : {themes}.", "en": " Themes: {themes}."},
    "digest_status_off": {
        "fr": "Vous ne recevez pas la lettre hebdomadaire.",
        "en": "You do not receive the weekly digest.",
    },
    "digest_status_paused": {
        "fr": "Votre lettre hebdomadaire est en pause ({reason}).",
        "en": "Your weekly digest is paused ({reason}).",
    },
    "digest_weekday_0": {"fr": "lundi", "en": "Monday"},
    "digest_weekday_1": {"fr": "mardi", "en": "Tuesday"},
    "digest_weekday_2": {"fr": "mercredi", "en": "Wednesday"},
    "digest_weekday_3": {"fr": "jeudi", "en": "Thursday"},
    "digest_weekday_4": {"fr": "vendredi", "en": "Friday"},
    "digest_weekday_5": {"fr": "samedi", "en": "Saturday"},
    "digest_weekday_6": {"fr": "dimanche", "en": "Sunday"},
    # /digest settings and the digest's detail cards (bot/flows/digest.py)
    "digest_settings_question": {
        "fr": "Que voulez-vous changer ?",
        "en": "What would you like to change?",
    },
    "digest_btn_on": {"fr": "Hebdomadaire", "en": "Weekly"},
    "digest_btn_off": {"fr": "Désactiver", "en": "Turn off"},
    "digest_btn_day": {"fr": "Changer le jour", "en": "Change day"},
    "digest_btn_hour": {"fr": "Changer l'heure", "en": "Change time"},
    "digest_btn_themes": {"fr": "Thèmes", "en": "Themes"},
    "digest_ask_day": {
        "fr": "Quel jour voulez-vous recevoir la lettre ?",
        "en": "Which day would you like to get the digest?",
    },
    "digest_ask_hour": {
        "fr": "À quelle heure (heure de Paris) ?",
        "en": "At what time (Paris time)?",
    },
    "digest_hour_button": {"fr": "{hour} h", "en": "{hour}:00"},
    "digest_ask_themes": {
        "fr": "Choisissez les thèmes qui vous intéressent (aucun : tous les thèmes), "
        "puis « Terminé ».",
        "en": 'Pick the themes you are interested in (none: all themes), then "Done".',
    },
    "digest_themes_now": {"fr": "Thèmes suivis : {themes}.", "en": "Themes followed: {themes}."},
    "digest_all_themes": {"fr": "tous les thèmes", "en": "all themes"},
    "digest_saved": {"fr": "C'est enregistré.", "en": "Saved."},
    "digest_off_done": {
        "fr": "C'est fait : plus de lettre hebdomadaire. /digest pour la réactiver.",
        "en": "Done: no more weekly digest. /digest to turn it back on.",
    },
    "digest_gone": {
        "fr": "Cette fiche n'est plus disponible.",
        "en": "This entry is no longer available.",
    },
    "digest_card_solution_title": {"fr": "Solution : {title}", "en": "Solution: {title}"},
    "digest_card_org": {"fr": "Porteur : {value}", "en": "Provider: {value}"},
    "digest_card_mission": {"fr": "Mission : {value}", "en": "Mission: {value}"},
    "digest_card_maturity": {"fr": "Maturité : {value}", "en": "Maturity: {value}"},
    "digest_card_trust": {"fr": "Niveau de confiance : {value}", "en": "Trust level: {value}"},
    "digest_card_website": {"fr": "Site : {value}", "en": "Website: {value}"},
    "digest_card_contact": {
        "fr": "Contact (catalogue public) : {value}",
        "en": "Contact (public catalogue): {value}",
    },
    "digest_card_rex_title": {
        "fr": "Retour d'expérience : {title}",
        "en": "Experience report: {title}",
    },
    "digest_card_who": {"fr": "Qui : {value}", "en": "Who: {value}"},
    "digest_card_who_size": {"fr": "{name} ({size})", "en": "{name} ({size})"},
    "digest_card_problem": {"fr": "Problème : {value}", "en": "Problem: {value}"},
    "digest_card_tried": {"fr": "Ce qui a été essayé : {value}", "en": "What was tried: {value}"},
    "digest_card_period": {"fr": "Période : {value}", "en": "Period: {value}"},
    "digest_period_range": {"fr": "{start} – {end}", "en": "{start} – {end}"},
    "digest_period_since": {"fr": "depuis {start}", "en": "since {start}"},
    "digest_period_until": {"fr": "jusqu'à {end}", "en": "until {end}"},
    "digest_card_outcome": {"fr": "Résultat : {value}", "en": "Outcome: {value}"},
    "digest_card_lessons": {"fr": "Enseignements : {value}", "en": "Lessons: {value}"},
    "rex_card_solution": {"fr": "Solution utilisée : {value}", "en": "Solution used: {value}"},
    "rex_card_links": {"fr": "Sources : {value}", "en": "Sources: {value}"},
    "rex_card_reach": {"fr": "Les joindre : {value}", "en": "How to reach them: {value}"},
    "rex_reach_direct": {
        "fr": "en direct. La personne qui a rédigé ce retour utilise PIU et accepte d'être "
        "sollicitée ; elle reçoit votre demande et l'accepte ou non (vos coordonnées ne sont "
        "échangées que si elle accepte).",
        "en": "directly. The person who wrote this report uses PIU and agreed to be asked; "
        "they get your request and accept it or not (details are exchanged only if they do).",
    },
    "rex_reach_facilitator": {
        "fr": "par un facilitateur PIU. Votre demande rejoint la file des facilitateurs, qui "
        "contactent la collectivité pour vous et vous donnent sa réponse ici.",
        "en": "through a PIU facilitator. Your request joins the facilitators' queue; they "
        "contact the local authority for you and give you its answer here.",
    },
    "rex_contact_button": {"fr": "Demander un contact", "en": "Ask for a contact"},
    "rex_solution_button": {"fr": "Fiche : {title}", "en": "Card: {title}"},
    "rex_open_button": {
        "fr": "Retour d'expérience : {name}",
        "en": "Experience report: {name}",
    },
    "group_name": {"fr": "{theme} · {band}", "en": "{theme} · {band}"},
    "group_offer_one": {
        "fr": "1 autre collectivité de votre taille travaille aussi sur ce sujet (groupe "
        "« {group} »).",
        "en": '1 other local authority of your size is also working on this (group "{group}").',
    },
    "group_offer_many": {
        "fr": "{n} collectivités de votre taille travaillent aussi sur ce sujet (groupe "
        "« {group} »).",
        "en": '{n} local authorities of your size are also working on this (group "{group}").',
    },
    "group_offer_empty": {
        "fr": "Un groupe « {group} » existe pour les collectivités de votre taille sur ce sujet.",
        "en": 'A group "{group}" exists for local authorities of your size on this topic.',
    },
    "group_join_button": {"fr": "Rejoindre le groupe", "en": "Join the group"},
    "group_show_button": {"fr": "Voir le groupe", "en": "See the group"},
    "group_leave_button": {"fr": "Quitter le groupe", "en": "Leave the group"},
    "group_meet_button": {"fr": "Échanger avec n°{n}", "en": "Talk with no. {n}"},
    "group_joined": {
        "fr": "Vous avez rejoint le groupe « {group} ». Les autres membres voient votre "
        "besoin (type et taille de collectivité, département, texte du besoin), jamais vos "
        "coordonnées ; ils peuvent vous demander une mise en relation, que vous acceptez ou "
        "non. /groupes pour le retrouver ou le quitter.",
        "en": 'You joined the group "{group}". Other members see your need (kind and size '
        "of local authority, département, the need's text), never your contact details; "
        "they may ask you for an introduction, which you accept or not. /groups to find "
        "it again or leave.",
    },
    "group_members_header": {
        "fr": "Groupe « {group} » — {n} membre(s) :",
        "en": 'Group "{group}" — {n} member(s):',
    },
    "group_member_you": {"fr": " (vous)", "en": " (you)"},
    "group_member_unknown": {"fr": "collectivité", "en": "local authority"},
    "group_member_closed": {"fr": "besoin clos", "en": "need closed"},
    "group_privacy": {
        "fr": "Ni noms ni coordonnées : une mise en relation passe par l'accord des deux côtés.",
        "en": "No names, no contact details: an introduction needs both sides' agreement.",
    },
    "group_left": {
        "fr": "Vous avez quitté le groupe « {group} ». Votre besoin n'y est plus visible.",
        "en": 'You left the group "{group}". Your need is no longer shown there.',
    },
    "group_not_member": {
        "fr": "Vous ne faites pas partie de ce groupe (ou il n'existe plus).",
        "en": "You are not a member of this group (or it no longer exists).",
    },
    "group_cannot_join": {
        "fr": "Je ne peux pas vous inscrire à ce groupe : il faut un besoin ouvert, à vous, "
        "avec un thème et une taille de collectivité.",
        "en": "I cannot add you to this group: it takes an open need of yours, with a theme "
        "and a size of local authority.",
    },
    "group_none": {
        "fr": "Vous n'êtes dans aucun groupe thématique. Ils vous sont proposés sous les "
        "collectivités pairs, après un besoin.",
        "en": "You are in no thematic group. They are offered under the peer local "
        "authorities, after a need.",
    },
    "group_list_header": {"fr": "Vos groupes thématiques :", "en": "Your thematic groups:"},
    "group_list_item": {"fr": "{group} ({n} membres)", "en": "{group} ({n} members)"},
    "digest_groups_title": {
        "fr": "Nouveaux membres de vos groupes thématiques",
        "en": "New members of your thematic groups",
    },
    "digest_group_line": {
        "fr": "• {group} : « {text} »",
        "en": '• {group}: "{text}"',
    },
    "digest_card_need_title": {
        "fr": "Besoin d'une collectivité",
        "en": "A local authority's need",
    },
    "digest_card_size": {"fr": "Taille : {value}", "en": "Size: {value}"},
    "digest_intro_pending": {
        "fr": "Une demande de mise en relation attend votre réponse : {about}",
        "en": "An introduction request is waiting for your answer: {about}",
    },
    # the digest by e-mail, alerts (digest/mail.py, digest/run.py, api/routes/email.py) ----
    "digest_btn_email": {"fr": "Recevoir par e-mail", "en": "Get it by e-mail"},
    "digest_btn_email_stop": {"fr": "Arrêter les e-mails", "en": "Stop the e-mails"},
    "digest_btn_alerts_on": {"fr": "Alertes immédiates", "en": "Instant alerts"},
    "digest_btn_alerts_off": {"fr": "Arrêter les alertes", "en": "Stop the alerts"},
    "digest_status_email": {
        "fr": "Par e-mail à {email}.",
        "en": "By e-mail to {email}.",
    },
    "digest_status_email_pending": {
        "fr": "E-mail {email} en attente de confirmation (le lien vous a été envoyé).",
        "en": "E-mail {email} waiting for confirmation (the link was sent to you).",
    },
    "digest_status_alerts": {
        "fr": "Alertes immédiates : oui (au plus une par jour).",
        "en": "Instant alerts: on (at most one a day).",
    },
    "digest_ask_email": {
        "fr": "À quelle adresse e-mail voulez-vous recevoir la lettre ? Je vous enverrai "
        "un lien de confirmation ; rien ne part avant que vous l'ayez suivi. "
        "Vous pourrez arrêter en un clic depuis chaque e-mail. (/annuler pour laisser)",
        "en": "Which e-mail address should the digest go to? I will send you a "
        "confirmation link; nothing is sent before you follow it. Every e-mail has a "
        "one-click unsubscribe. (/cancel to leave it)",
    },
    "digest_email_invalid": {
        "fr": "Ce n'est pas une adresse e-mail valide (exemple : prenom.nom@mairie.fr). "
        "Réessayez, ou /annuler.",
        "en": "That is not a valid e-mail address (e.g. first.last@town.fr). "
        "Try again, or /cancel.",
    },
    "digest_email_sent": {
        "fr": "C'est noté. J'ai envoyé un lien de confirmation à {email} : il est valable "
        "{hours} heures. La lettre partira par e-mail dès que vous l'aurez suivi ; elle "
        "reste aussi visible ici.",
        "en": "Noted. I sent a confirmation link to {email}; it is valid for {hours} "
        "hours. The digest will go by e-mail once you follow it; it also stays visible here.",
    },
    "digest_email_unavailable": {
        "fr": "L'envoi d'e-mails n'est pas configuré sur ce serveur : la lettre reste "
        "visible ici, dans la conversation, à chaque visite.",
        "en": "E-mail is not set up on this server: the digest stays visible here, "
        "in the conversation, at each visit.",
    },
    "digest_email_failed": {
        "fr": "Je n'ai pas pu envoyer l'e-mail de confirmation pour le moment. "
        "Réessayez plus tard (/digest).",
        "en": "I could not send the confirmation e-mail just now. Please try again later "
        "(/digest).",
    },
    "digest_email_stopped": {
        "fr": "C'est fait : plus d'e-mails, et votre adresse est effacée. La lettre reste "
        "visible ici.",
        "en": "Done: no more e-mails, and your address is erased. The digest stays visible here.",
    },
    "digest_alerts_on_done": {
        "fr": "Alertes immédiates activées : quand une nouveauté correspond très bien à "
        "l'un de vos besoins ouverts, je vous préviens tout de suite (au plus une fois par "
        "jour ; le reste attend la lettre).",
        "en": "Instant alerts on: when something new fits one of your open needs very "
        "well, I tell you at once (at most once a day; the rest waits for the digest).",
    },
    "digest_alerts_off_done": {
        "fr": "Alertes immédiates désactivées.",
        "en": "Instant alerts off.",
    },
    "alert_header": {
        "fr": "Alerte : une nouveauté correspond très bien à votre besoin.",
        "en": "Alert: something new fits your need very well.",
    },
    "email_digest_subject": {
        "fr": "PIU — les nouveautés depuis le {date}",
        "en": "PIU — what is new since {date}",
    },
    "email_alert_subject": {
        "fr": "PIU — une nouveauté pour votre besoin",
        "en": "PIU — something new for your need",
    },
    "email_digest_footer": {
        "fr": "Les liens ouvrent le détail dans la conversation PIU ; écrivez-y /digest pour "
        "changer le jour, l'heure ou les thèmes.",
        "en": "The links open the details in the PIU conversation; write /digest there to "
        "change the day, hour or themes.",
    },
    "email_footer": {
        "fr": "Vous recevez cet e-mail car vous l'avez demandé dans PIU. "
        "Se désabonner en un clic : {url}",
        "en": "You get this e-mail because you asked for it in PIU. One-click unsubscribe: {url}",
    },
    "email_footer_html": {
        "fr": "Vous recevez cet e-mail car vous l'avez demandé dans PIU.",
        "en": "You get this e-mail because you asked for it in PIU.",
    },
    "email_unsubscribe_link": {"fr": "Se désabonner", "en": "Unsubscribe"},
    "email_confirm_subject": {
        "fr": "PIU — confirmez votre adresse pour la lettre",
        "en": "PIU — confirm your address for the digest",
    },
    "email_confirm_body": {
        "fr": "Bonjour,\n\nQuelqu'un (sans doute vous) a demandé à recevoir la lettre de PIU "
        "à cette adresse. Pour confirmer, ouvrez ce lien ({hours} heures) :\n{url}\n\n"
        "Sinon, ignorez cet e-mail : rien d'autre ne vous sera envoyé.",
        "en": "Hello,\n\nSomeone (probably you) asked to receive the PIU digest at this "
        "address. To confirm, open this link (valid {hours} hours):\n{url}\n\n"
        "Otherwise, ignore this e-mail: nothing else will be sent to you.",
    },
    "email_confirm_body_html": {
        "fr": "Bonjour,\n\nQuelqu'un (sans doute vous) a demandé à recevoir la lettre de PIU "
        "à cette adresse. Le lien ci-dessous est valable {hours} heures. Sinon, ignorez cet "
        "e-mail : rien d'autre ne vous sera envoyé.",
        "en": "Hello,\n\nSomeone (probably you) asked to receive the PIU digest at this "
        "address. The link below is valid for {hours} hours. Otherwise, ignore this "
        "e-mail: nothing else will be sent to you.",
    },
    "email_confirm_button": {"fr": "Confirmer mon adresse", "en": "Confirm my address"},
    "email_page_confirm": {
        "fr": "Confirmer l'adresse {email} pour recevoir la lettre de PIU ?",
        "en": "Confirm the address {email} to receive the PIU digest?",
    },
    "email_page_confirmed": {
        "fr": "Merci : l'adresse {email} est confirmée. La lettre y arrivera à la prochaine "
        "échéance.",
        "en": "Thank you: {email} is confirmed. The digest will arrive there next time.",
    },
    "email_page_invalid": {
        "fr": "Ce lien n'est pas (ou plus) valable. Demandez-en un nouveau dans la "
        "conversation (/digest).",
        "en": "This link is not (or no longer) valid. Ask for a new one in the "
        "conversation (/digest).",
    },
    "email_page_unsubscribe": {
        "fr": "Ne plus recevoir la lettre de PIU par e-mail ?",
        "en": "Stop receiving the PIU digest by e-mail?",
    },
    "email_page_unsubscribe_button": {"fr": "Me désabonner", "en": "Unsubscribe"},
    "email_page_unsubscribed": {
        "fr": "C'est fait : vous ne recevrez plus d'e-mails de PIU, et votre adresse est effacée.",
        "en": "Done: you will get no more e-mails from PIU, and your address is erased.",
    },
    "email_page_open_chat": {"fr": "Ouvrir la conversation", "en": "Open the conversation"},
    # robustness ------------------------------------------------------------------------------
    "rate_limited": {
        "fr": "Vous m'écrivez un peu vite : je n'ai pas traité ce message. "
        "Réessayez dans {seconds} secondes, je reprendrai là où nous en étions.",
        "en": "You are writing a little fast: I did not process that message. "
        "Please try again in {seconds} seconds; we will pick up where we were.",
    },
    # privacy ----------------------------------------------------------------------------
    "privacy_notice": {
        "fr": "Confidentialité — PIU (politique version {version})\n\n"
        "Données collectées : l'identifiant de votre messagerie (Telegram ou session web), "
        "votre langue et votre rôle, les besoins et territoires que vous décrivez, les "
        "solutions que vous inscrivez, vos demandes de mise en relation et leurs messages, "
        "vos préférences de lettre hebdomadaire, l'état de la conversation et la date de "
        "votre dernière activité. Votre e-mail, téléphone ou nom : seulement si vous "
        "acceptez de les donner.\n"
        "Finalités : vous proposer des solutions et des collectivités qui les ont testées, "
        "organiser des mises en relation, vous envoyer la lettre si vous l'avez demandée, "
        "et produire des statistiques anonymes pour les facilitateurs.\n"
        "Base légale : votre consentement, que vous pouvez retirer à tout moment "
        "(/retrait efface vos coordonnées).\n"
        "Destinataires : les facilitateurs de la plateforme. Vos coordonnées ne sont "
        "transmises à un autre utilisateur que si vous acceptez la mise en relation.\n"
        "Durée : vos données sont supprimées après {years} ans sans activité ; vous êtes "
        "prévenu un mois avant.\n"
        "Vos droits : accès et portabilité avec /mesdonnees, effacement avec /supprimer ; "
        "rectification, opposition et toute question auprès du responsable du traitement. "
        "Vous pouvez aussi adresser une réclamation à la CNIL (www.cnil.fr).\n"
        "Responsable du traitement : {contact}.",
        "en": "Privacy — PIU (policy version {version})\n\n"
        "Data collected: your messaging identifier (Telegram or web session), your "
        "language and role, the needs and territories you describe, the solutions you "
        "register, your introduction requests and their messages, your weekly digest "
        "preferences, the conversation state and the date of your last activity. Your "
        "e-mail, phone or name: only if you agree to give them.\n"
        "Purposes: suggesting solutions and local authorities that have tried them, "
        "arranging introductions, sending you the digest if you asked for it, and "
        "producing anonymous statistics for the facilitators.\n"
        "Legal basis: your consent, which you can withdraw at any time (/withdraw erases "
        "your contact details).\n"
        "Recipients: the platform's facilitators. Your contact details are given to "
        "another user only if you accept the introduction.\n"
        "Retention: your data is deleted after {years} years without activity; you are "
        "warned a month before.\n"
        "Your rights: access and portability with /mydata, erasure with /delete; "
        "rectification, objection and any question with the data controller. You can also "
        "lodge a complaint with the CNIL (www.cnil.fr).\n"
        "Data controller: {contact}.",
    },
    "privacy_contact_default": {
        "fr": "l'exploitant de la plateforme PIU",
        "en": "the operator of the PIU platform",
    },
    "privacy_page_title": {
        "fr": "PIU — Politique de confidentialité",
        "en": "PIU — Privacy notice",
    },
    "privacy_export_intro": {
        "fr": "Voici toutes les données que PIU conserve à votre sujet, au format JSON "
        "({parts} message(s)). Pour les effacer : /supprimer.",
        "en": "Here is everything PIU stores about you, as JSON ({parts} message(s)). "
        "To erase it: /delete.",
    },
    "privacy_delete_ask": {
        "fr": "Vous allez supprimer toutes vos données personnelles : votre profil, vos "
        "coordonnées, vos besoins, vos abonnements, vos messages en attente et vos demandes "
        "de mise en relation en cours. Seuls des compteurs anonymes sont conservés. "
        "C'est définitif.",
        "en": "You are about to delete all your personal data: your profile, your contact "
        "details, your needs, your subscriptions, your pending messages and your open "
        "introduction requests. Only anonymous counts are kept. This cannot be undone.",
    },
    "privacy_delete_ask_solutions": {
        "fr": "Les {count} solution(s) que vous avez inscrite(s) resteront au catalogue "
        "comme données de votre organisation, sans coordonnées de contact ni lien avec vous.",
        "en": "The {count} solution(s) you registered will stay in the catalogue as your "
        "organisation's data, without contact details or any link to you.",
    },
    "privacy_delete_question": {
        "fr": "Confirmez-vous la suppression ?",
        "en": "Do you confirm the deletion?",
    },
    "privacy_delete_confirm_button": {
        "fr": "Confirmer la suppression",
        "en": "Confirm deletion",
    },
    "privacy_delete_cancel_button": {"fr": "Annuler", "en": "Cancel"},
    "privacy_delete_cancelled": {
        "fr": "Rien n'a été supprimé.",
        "en": "Nothing was deleted.",
    },
    "privacy_deleted": {
        "fr": "Vos données personnelles ont été supprimées. La conversation repart de zéro : "
        "votre prochain message sera traité comme celui d'un nouvel utilisateur.",
        "en": "Your personal data has been deleted. The conversation starts afresh: your "
        "next message will be treated as a new user's.",
    },
    "privacy_deleted_solutions": {
        "fr": "Les {count} solution(s) que vous aviez inscrite(s) restent au catalogue comme "
        "données de l'organisation, sans coordonnées de contact ni lien avec vous.",
        "en": "The {count} solution(s) you had registered stay in the catalogue as the "
        "organisation's data, without contact details or any link to you.",
    },
    "privacy_withdraw_done": {
        "fr": "Votre consentement est retiré : vos coordonnées (e-mail, téléphone, nom) "
        "ont été effacées.",
        "en": "Your consent is withdrawn: your contact details (e-mail, phone, name) have "
        "been erased.",
    },
    "privacy_withdraw_none": {
        "fr": "Vous n'avez donné aucun consentement en cours : aucune coordonnée n'est conservée.",
        "en": "You have no consent in force: no contact details are kept.",
    },
    "privacy_retention_warning": {
        "fr": "Vous n'avez pas utilisé PIU depuis longtemps. Sans activité de votre part, "
        "vos données personnelles seront supprimées le {date} (durée de conservation : "
        "{years} ans d'inactivité). Pour les conserver, il suffit d'envoyer un message. "
        "Pour les récupérer avant : /mesdonnees.",
        "en": "You have not used PIU for a long time. Unless you are active again, your "
        "personal data will be deleted on {date} (retention: {years} years of inactivity). "
        "To keep it, just send a message. To get a copy first: /mydata.",
    },
    # telegram: the command menu and edited messages
    "cmd_start": {"fr": "Commencer : choisir votre profil", "en": "Start: choose your profile"},
    "cmd_help": {"fr": "Aide et commandes", "en": "Help and commands"},
    "cmd_need": {"fr": "Décrire un besoin", "en": "Describe a need"},
    "cmd_register": {"fr": "Inscrire une solution", "en": "Register a solution"},
    "cmd_myneeds": {"fr": "Mes besoins enregistrés", "en": "My saved needs"},
    "cmd_cancel": {"fr": "Annuler la démarche en cours", "en": "Cancel the current step"},
    "cmd_language": {"fr": "Changer de langue", "en": "Change language"},
    "cmd_digest": {"fr": "Lettre hebdomadaire", "en": "Weekly digest"},
    "cmd_mysolutions": {"fr": "Mes solutions inscrites", "en": "My registered solutions"},
    "cmd_rex": {
        "fr": "Raconter une expérimentation (retour d'expérience)",
        "en": "Tell how a pilot went (experience report)",
    },
    "cmd_contact": {
        "fr": "Votre adresse de contact pour les mises en relation",
        "en": "Your contact address for introductions",
    },
    "edited_ignored": {
        "fr": "Je ne tiens pas compte des messages modifiés : renvoyez plutôt un nouveau message.",
        "en": "I do not read edited messages: please send a new message instead.",
    },
    # --- Peers (matcher.peers.describe_peer) ---------------------------------------------
    "peer_kind_commune": {"fr": "commune", "en": "municipality"},
    "peer_kind_epci": {"fr": "intercommunalité", "en": "inter-municipal body"},
    "peer_kind_ept": {"fr": "établissement public territorial", "en": "territorial body"},
    "peer_kind_departement": {"fr": "département", "en": "département"},
    "peer_kind_region": {"fr": "région", "en": "region"},
    "peer_kind_unknown": {"fr": "collectivité", "en": "local authority"},
    "peer_population": {"fr": " de {population} habitants", "en": " of {population} inhabitants"},
    "peer_where": {"fr": " {prep}", "en": " in {dep_name}"},
    "peer_name": {"fr": " ({name})", "en": " ({name})"},
    "peer_tried": {"fr": "a testé « {title} »", "en": 'tried "{title}"'},
    "peer_tried_year": {"fr": "a testé « {title} » en {year}", "en": 'tried "{title}" in {year}'},
    "peer_outcome": {"fr": "résultat : {outcome}", "en": "outcome: {outcome}"},
    "peer_outcome_success": {"fr": "réussite", "en": "success"},
    "peer_outcome_failed": {"fr": "échec (retour utile)", "en": "failed (useful lessons)"},
    "peer_outcome_stopped": {"fr": "arrêté", "en": "stopped"},
    "peer_outcome_ongoing": {"fr": "en cours", "en": "ongoing"},
    "peer_outcome_unknown": {"fr": "inconnu", "en": "unknown"},
    "reason_size_caveat_larger": {
        "fr": "plus grande que vous : {population} habitants",
        "en": "larger than you: {population} inhabitants",
    },
    "reason_size_caveat_smaller": {
        "fr": "plus petite que vous : {population} habitants",
        "en": "smaller than you: {population} inhabitants",
    },
    "peer_same_dep": {"fr": "même département", "en": "same département"},
    "peer_same_region": {"fr": "même région", "en": "same region"},
    "peer_more_rex": {
        "fr": "{n} autre(s) retour(s) d'expérience",
        "en": "{n} more experience report(s)",
    },
    "peer_sep": {"fr": " ; ", "en": "; "},
    # --- Territories (matcher.territories.describe) -------------------------------------
    "terr_kind_commune": {"fr": "commune", "en": "town"},
    "terr_kind_epci": {"fr": "intercommunalité", "en": "inter-municipal authority"},
    "terr_kind_ept": {"fr": "établissement public territorial", "en": "territorial public body"},
    "terr_kind_departement": {"fr": "département", "en": "département"},
    "terr_kind_region": {"fr": "région", "en": "region"},
    "terr_epci_CC": {"fr": "communauté de communes", "en": "community of communes"},
    "terr_epci_CA": {"fr": "communauté d'agglomération", "en": "urban community (agglomeration)"},
    "terr_epci_CU": {"fr": "communauté urbaine", "en": "urban community"},
    "terr_epci_METRO": {"fr": "métropole", "en": "metropolis"},
    "terr_epci_MET69": {"fr": "métropole", "en": "metropolis"},
    "terr_population": {
        "fr": "{label} de {population} habitants",
        "en": "{label} of {population} inhabitants",
    },
    # --- follow-ups after an introduction (matcher.followups, bot/flows/followup.py) ------
    "fu_after_accept": {
        "fr": "Il y a quelques semaines, vous avez été mis en relation avec « {about} ». "
        "Où en êtes-vous ? Votre réponse aide les prochaines collectivités.",
        "en": 'A few weeks ago you were introduced to "{about}". How is it going? Your '
        "answer helps the next local authorities.",
    },
    "fu_pilot_end": {
        "fr": "Votre expérimentation avec « {about} » arrive à son terme. Comment "
        "s'est-elle passée ?",
        "en": 'Your pilot with "{about}" is reaching its end. How did it go?',
    },
    "fu_btn_pilot": {"fr": "Expérimentation lancée", "en": "Pilot started"},
    "fu_btn_talks": {"fr": "En discussion", "en": "Still talking"},
    "fu_btn_none": {"fr": "Pas de suite", "en": "No follow-up"},
    "fu_btn_stop": {"fr": "Ne plus me demander", "en": "Stop asking"},
    "fu_btn_success": {"fr": "Réussie", "en": "Successful"},
    "fu_btn_partial": {"fr": "En partie", "en": "Partly"},
    "fu_btn_stopped": {"fr": "Arrêtée", "en": "Stopped"},
    "fu_talks_ack": {
        "fr": "Merci, je vous reposerai la question dans quelques semaines.",
        "en": "Thank you, I will ask again in a few weeks.",
    },
    "fu_none_ack": {
        "fr": "Merci, c'est noté : pas de suite avec « {about} ».",
        "en": 'Thank you, noted: no follow-up with "{about}".',
    },
    "fu_stopped": {
        "fr": "Entendu : je ne vous poserai plus de questions de suivi.",
        "en": "Understood: I will not ask follow-up questions any more.",
    },
    "fu_already": {
        "fr": "Vous avez déjà répondu à cette question, merci.",
        "en": "You already answered this question, thank you.",
    },
    "fu_not_found": {
        "fr": "Cette question de suivi ne vous est pas adressée ou n'existe plus.",
        "en": "This follow-up question is not for you or no longer exists.",
    },
    "fu_duration_ask": {
        "fr": "Bravo pour ce lancement ! Combien de temps l'expérimentation doit-elle "
        "durer ? Je vous demanderai le bilan à son terme.",
        "en": "Well done! How long is the pilot planned to last? I will ask how it went "
        "at its end.",
    },
    "fu_months": {"fr": "{n} mois", "en": "{n} months"},
    "fu_share_ask": {
        "fr": "Puis-je dire à « {about} » comment se passe l'expérimentation (lancement, "
        "bilan) ? Rien d'autre n'est transmis.",
        "en": 'May I tell "{about}" how the pilot goes (start, outcome)? Nothing else is '
        "passed on.",
    },
    "fu_share_yes": {"fr": "Oui, prévenez-les", "en": "Yes, tell them"},
    "fu_share_no": {"fr": "Non", "en": "No"},
    "fu_share_ack": {
        "fr": "C'est noté. Je reviendrai vers vous à la fin de l'expérimentation.",
        "en": "Noted. I will come back to you at the end of the pilot.",
    },
    "fu_contract_ask": {
        "fr": "Merci ! Un contrat (marché, commande) a-t-il été signé ensuite ?",
        "en": "Thank you! Was a contract (procurement, order) signed afterwards?",
    },
    "fu_contract_yes": {"fr": "Oui, signé", "en": "Yes, signed"},
    "fu_contract_no": {"fr": "Non", "en": "No"},
    "fu_rex_ask": {
        "fr": "Votre expérience peut servir aux collectivités de votre taille. Voulez-vous "
        "la raconter en quelques questions (5 minutes) ? Une fiche REX sera relue par un "
        "facilitateur avant publication.",
        "en": "Your experience can help local authorities of your size. Would you tell it "
        "in a few questions (5 minutes)? A facilitator reviews the REX sheet before it is "
        "published.",
    },
    "fu_rex_now": {"fr": "Raconter maintenant", "en": "Tell it now"},
    "fu_rex_later": {"fr": "Plus tard (/rex)", "en": "Later (/rex)"},
    "fu_rex_later_ack": {
        "fr": "Entendu. Écrivez /rex quand vous voulez.",
        "en": "Understood. Type /rex whenever you like.",
    },
    "fu_startup_pilot": {
        "fr": "Bonne nouvelle : {who} a lancé une expérimentation de « {about} » après "
        "votre mise en relation sur PIU.",
        "en": 'Good news: {who} started a pilot of "{about}" after your introduction on PIU.',
    },
    "fu_startup_outcome": {
        "fr": "Bilan de l'expérimentation de « {about} » chez {who} : {outcome}.",
        "en": 'Outcome of the pilot of "{about}" at {who}: {outcome}.',
    },
    "fu_startup_contract": {
        "fr": "{who} indique avoir signé un contrat pour « {about} » après l'expérimentation.",
        "en": '{who} reports signing a contract for "{about}" after the pilot.',
    },
    # closing a need (/mesbesoins): why?
    "needwhy_ask": {
        "fr": "Pour nous aider, pourquoi clore ce besoin ?",
        "en": "To help us, why are you closing this need?",
    },
    "needwhy_met": {"fr": "Résolu avec {title}", "en": "Met with {title}"},
    "needwhy_gone": {"fr": "Abandonné", "en": "Abandoned"},
    "needwhy_other": {"fr": "Autre raison", "en": "Other reason"},
    "needwhy_ack": {"fr": "Merci, c'est noté.", "en": "Thank you, noted."},
    "needwhy_met_ack": {
        "fr": "Merci ! Votre retour sur « {title} » aiderait les collectivités de votre "
        "taille : /rex pour le raconter.",
        "en": 'Thank you! Your experience with "{title}" would help local authorities of '
        "your size: /rex to tell it.",
    },
    # the REX interview (/rex, /retour)
    "rex_intro": {
        "fr": "Racontons votre expérimentation en quelques questions ; /annuler pour "
        "arrêter. Une fiche REX sera relue par un facilitateur avant d'être proposée aux "
        "collectivités de taille proche.",
        "en": "Let us tell your pilot in a few questions; /cancel to stop. A facilitator "
        "reviews the REX sheet before it is shown to local authorities of a similar size.",
    },
    "rex_tried_ask": {
        "fr": "Qu'avez-vous expérimenté, et pour quel problème ? (une ou deux phrases)",
        "en": "What did you try, and for which problem? (one or two sentences)",
    },
    "rex_solution_ask": {
        "fr": "Avec quelle solution ?",
        "en": "With which solution?",
    },
    "rex_solution_other": {"fr": "Une autre (je l'écris)", "en": "Another (I type it)"},
    "rex_solution_none": {"fr": "Sans solution du marché", "en": "No market solution"},
    "rex_solution_text": {
        "fr": "Quel est le nom de la solution (ou de l'entreprise) ?",
        "en": "What is the name of the solution (or the company)?",
    },
    "rex_duration_ask": {"fr": "Combien de temps a-t-elle duré ?", "en": "How long did it last?"},
    "rex_cost_ask": {
        "fr": "Quel en a été le coût, à peu près (HT) ?",
        "en": "Roughly what did it cost (excl. VAT)?",
    },
    "rex_cost_lt10k": {"fr": "moins de 10 000 €", "en": "under €10,000"},
    "rex_cost_10k-40k": {"fr": "10 000 à 40 000 €", "en": "€10,000 to €40,000"},
    "rex_cost_40k-100k": {"fr": "40 000 à 100 000 €", "en": "€40,000 to €100,000"},
    "rex_cost_gt100k": {"fr": "plus de 100 000 €", "en": "over €100,000"},
    "rex_cost_unknown": {"fr": "je ne sais pas", "en": "I don't know"},
    "rex_outcome_ask": {"fr": "Quel en est le résultat ?", "en": "What was the outcome?"},
    "rex_worked_ask": {
        "fr": "Qu'est-ce qui a bien marché ?",
        "en": "What worked well?",
    },
    "rex_failed_ask": {
        "fr": "Et qu'est-ce qui n'a pas marché, ou serait à faire autrement ?",
        "en": "And what did not work, or should be done differently?",
    },
    "rex_reco_ask": {
        "fr": "La recommanderiez-vous à une collectivité comme la vôtre ?",
        "en": "Would you recommend it to a local authority like yours?",
    },
    "rex_reco_yes": {"fr": "Oui", "en": "Yes"},
    "rex_reco_no": {"fr": "Non", "en": "No"},
    "rex_reco_depends": {"fr": "Ça dépend", "en": "It depends"},
    "rex_consent_ask": {
        "fr": "D'autres collectivités peuvent-elles vous demander une mise en relation à "
        "propos de cette expérience ({themes}) ? Chaque demande vous est soumise (vous "
        "acceptez ou refusez), au plus {cap} par mois. Vous pouvez retirer cet accord à "
        "tout moment avec /retrait.",
        "en": "May other local authorities ask to be introduced to you about this "
        "experience ({themes})? You accept or decline each request, at most {cap} a "
        "month. You can withdraw this at any time with /withdraw.",
    },
    "rex_consent_yes": {"fr": "Oui, j'accepte", "en": "Yes, I agree"},
    "rex_consent_no": {"fr": "Non merci", "en": "No thanks"},
    "rex_saved": {
        "fr": "Merci ! Votre fiche REX « {title} » est enregistrée ; un facilitateur la "
        "relit avant qu'elle soit proposée aux collectivités de taille proche. Je vous "
        "préviendrai.",
        "en": 'Thank you! Your REX sheet "{title}" is saved; a facilitator reviews it '
        "before it is shown to local authorities of a similar size. I will let you know.",
    },
    "rex_approved": {
        "fr": "Votre fiche REX « {title} » est publiée : les collectivités de taille proche "
        "la voient désormais. Merci !",
        "en": 'Your REX sheet "{title}" is published: local authorities of a similar size '
        "now see it. Thank you!",
    },
    "rex_rejected": {
        "fr": "Votre fiche REX « {title} » n'a pas été publiée. Motif : {reason}",
        "en": 'Your REX sheet "{title}" was not published. Reason: {reason}',
    },
    "rex_lessons": {
        "fr": "Ce qui a marché : {worked}\nCe qui n'a pas marché : {failed}",
        "en": "What worked: {worked}\nWhat did not work: {failed}",
    },
    "outcome_partial": {"fr": "réussite partielle", "en": "partly successful"},
    # --- directory (issue 21) ---
    "cmd_directory": {
        "fr": "Annuaire : solutions et retours d'expérience par thème",
        "en": "Directory: solutions and experience reports by theme",
    },
    "dir_theme_other": {"fr": "Autres sujets", "en": "Other topics"},
    "dir_menu": {
        "fr": "Annuaire — qui fait quoi. Choisissez un thème ; entre parenthèses, le nombre "
        "de solutions · de retours d'expérience de collectivités :",
        "en": "Directory — who does what. Choose a theme; in brackets, the number of "
        "solutions · of experience reports from local authorities:",
    },
    "dir_menu_web": {
        "fr": "Aussi sur le web, sans inscription : {url}",
        "en": "Also on the web, no sign-up: {url}",
    },
    "dir_menu_empty": {
        "fr": "L'annuaire est encore vide : aucune solution ni retour d'expérience publié.",
        "en": "The directory is still empty: no solution or experience report published.",
    },
    "dir_theme_button": {
        "fr": "{theme} ({solutions} · {rex})",
        "en": "{theme} ({solutions} · {rex})",
    },
    "dir_unknown_theme": {
        "fr": "« {theme} » n'est pas un thème de l'annuaire.",
        "en": '"{theme}" is not a theme of the directory.',
    },
    "dir_theme_empty": {
        "fr": "Le thème « {theme} » n'a encore ni solution ni retour d'expérience.",
        "en": 'The theme "{theme}" has no solution or experience report yet.',
    },
    "dir_header_solutions": {
        "fr": "Annuaire · {theme} — solutions ({total}), page {page}/{pages}",
        "en": "Directory · {theme} — solutions ({total}), page {page}/{pages}",
    },
    "dir_header_rex": {
        "fr": "Annuaire · {theme} — retours d'expérience ({total}), page {page}/{pages}",
        "en": "Directory · {theme} — experience reports ({total}), page {page}/{pages}",
    },
    "dir_order_solutions": {
        "fr": "Solutions déployées d'abord, puis par niveau de confiance ; les services "
        "arrêtés en dernier.",
        "en": "Deployed solutions first, then by trust level; discontinued services last.",
    },
    "dir_order_rex": {
        "fr": "Réussites d'abord, puis les collectivités les plus peuplées.",
        "en": "Successes first, then the most populous local authorities.",
    },
    "dir_filter_line": {"fr": "Filtre : « {keyword} »", "en": 'Filter: "{keyword}"'},
    "dir_trust": {"fr": "fiche {trust}", "en": "{trust} entry"},
    "dir_line_solution": {"fr": "{n}. {title} — {facts}", "en": "{n}. {title} — {facts}"},
    "dir_line_rex": {
        "fr": "{n}. {who} — {outcome} : {title}",
        "en": "{n}. {who} — {outcome}: {title}",
    },
    "dir_none_solutions": {
        "fr": "Aucune solution dans ce thème pour l'instant.",
        "en": "No solution in this theme yet.",
    },
    "dir_none_rex": {
        "fr": "Aucun retour d'expérience dans ce thème pour l'instant.",
        "en": "No experience report in this theme yet.",
    },
    "dir_none_filtered": {
        "fr": "Rien ne correspond à « {keyword} » ici. Essayez un autre mot, ou effacez le filtre.",
        "en": 'Nothing matches "{keyword}" here. Try another word, or clear the filter.',
    },
    "dir_btn_rex_n": {"fr": "REX {n}", "en": "Report {n}"},
    "dir_btn_prev": {"fr": "◀ Page précédente", "en": "◀ Previous page"},
    "dir_btn_next": {"fr": "Page suivante ▶", "en": "Next page ▶"},
    "dir_btn_show_rex": {
        "fr": "Retours d'expérience ({n})",
        "en": "Experience reports ({n})",
    },
    "dir_btn_show_solutions": {"fr": "Solutions ({n})", "en": "Solutions ({n})"},
    "dir_btn_filter": {"fr": "Filtrer par mot-clé", "en": "Filter by keyword"},
    "dir_btn_clear": {"fr": "Effacer le filtre", "en": "Clear the filter"},
    "dir_btn_themes": {"fr": "Tous les thèmes", "en": "All themes"},
    "dir_btn_keyword_cancel": {"fr": "Annuler", "en": "Cancel"},
    "dir_keyword_ask": {
        "fr": "Tapez un ou plusieurs mots pour filtrer « {theme} » (par exemple : vélo). Je "
        "cherche dans le titre, la mission et le porteur des solutions, le titre, le "
        "problème et le territoire des retours d'expérience.",
        "en": 'Type one or more words to filter "{theme}" (for example: bike). I look in '
        "solutions' titles, missions and carriers, and in experience reports' titles, "
        "problems and territories.",
    },
    "dir_keyword_invalid": {
        "fr": "Ce filtre ne contient aucun mot utilisable (au plus {max} caractères, lettres "
        "ou chiffres). Tapez un ou plusieurs mots :",
        "en": "This filter has no usable word (at most {max} characters, letters or "
        "digits). Type one or more words:",
    },
    "dir_web_title": {
        "fr": "Annuaire de l'innovation urbaine",
        "en": "Urban innovation directory",
    },
    "dir_web_intro": {
        "fr": "Qui fait quoi : les solutions du catalogue PIU et les retours d'expérience "
        "des collectivités, classés par thème. Données publiques, consultables sans "
        "inscription.",
        "en": "Who does what: the solutions in the PIU catalogue and local authorities' "
        "experience reports, by theme. Public data, no sign-up needed.",
    },
    "dir_web_count_solutions": {"fr": "Solutions : {n}", "en": "Solutions: {n}"},
    "dir_web_count_rex": {"fr": "Retours d'expérience : {n}", "en": "Experience reports: {n}"},
    "dir_web_empty_theme": {"fr": "aucune entrée pour l'instant", "en": "no entry yet"},
    "dir_web_themes_heading": {"fr": "Thèmes", "en": "Themes"},
    "dir_web_search_label": {
        "fr": "Filtrer ce thème par mot-clé",
        "en": "Filter this theme by keyword",
    },
    "dir_web_search_button": {"fr": "Filtrer", "en": "Filter"},
    "dir_web_tabs": {"fr": "Type d'entrée", "en": "Kind of entry"},
    "dir_web_pages": {"fr": "Pages", "en": "Pages"},
    "dir_web_page_of": {"fr": "Page {page} sur {pages}", "en": "Page {page} of {pages}"},
    "dir_web_breadcrumb": {"fr": "Fil d'Ariane", "en": "Breadcrumb"},
    "dir_web_home": {"fr": "Annuaire", "en": "Directory"},
    "dir_web_chat_link": {
        "fr": "Décrire un besoin dans le chat",
        "en": "Describe a need in the chat",
    },
    "dir_web_other_lang": {"fr": "English", "en": "Français"},
    "dir_web_lang_nav": {"fr": "Langue", "en": "Language"},
    "dir_web_skip": {"fr": "Aller au contenu", "en": "Skip to content"},
    "dir_web_site": {
        "fr": "PIU — Place de l'Innovation Urbaine",
        "en": "PIU — Urban Innovation Place",
    },
    "dir_web_not_found_title": {"fr": "Page introuvable", "en": "Page not found"},
    "dir_web_not_found": {
        "fr": "Ce thème n'existe pas dans l'annuaire.",
        "en": "This theme is not in the directory.",
    },
    "dir_web_entry_not_found": {
        "fr": "Cette fiche n'existe pas ou n'est plus publique.",
        "en": "This entry does not exist or is no longer public.",
    },
    "dir_web_bad_request": {
        "fr": "Cette adresse n'est pas valide (numéro de page, onglet ou filtre).",
        "en": "This address is not valid (page number, tab or filter).",
    },
    "dir_web_in_theme": {"fr": "Dans l'annuaire : {themes}", "en": "In the directory: {themes}"},
    "dir_web_rex_of_solution": {
        "fr": "Retours d'expérience sur cette solution",
        "en": "Experience reports on this solution",
    },
}

_FR_SPACE_BEFORE = re.compile(r" ([:;?!»])")
_FR_SPACE_AFTER = re.compile(r"« ")


def _french_typography(text: str) -> str:
    text = _FR_SPACE_BEFORE.sub("\u00a0\\1", text)
    return _FR_SPACE_AFTER.sub("«\u00a0", text)


_RENDERED: dict[str, dict[str, str]] = {
    key: {"fr": _french_typography(v["fr"]), "en": v["en"]} for key, v in MESSAGES.items()
}


def t(key: str, lang: str, /, **params: object) -> str:
    """The message ``key`` in ``lang`` (French if unknown), with ``params`` filled in."""
    variants = _RENDERED[key]
    template = variants.get(lang) or variants["fr"]
    if params:
        return template.format_map(_Params(params))
    return template


class _Params(dict[str, object]):
    """Missing parameters render as an empty string rather than failing a reply."""

    def __missing__(self, key: str) -> str:
        return ""


def label(prefix: str, value: str | None, lang: str) -> str | None:
    """The catalogue's ``<prefix>_<value>`` label (the value itself when the key is not
    in the catalogue; ``None`` for ``None``)."""
    if value is None:
        return None
    key = f"{prefix}_{value}"
    return t(key, lang) if key in MESSAGES else value


def fmt_int(value: int, lang: str) -> str:
    """16618 -> "16 618" (French, narrow no-break space) or "16,618" (English)."""
    text = f"{value:,}"
    return text.replace(",", "\u202f") if lang == "fr" else text
