"""Phrase triggers: folding, matching per language and speaker, negation, spans, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import unicodedata
from pathlib import Path

import pytest

from monitor.coaching.playbook import load_playbook
from monitor.coaching.textnorm import fold, fold_phrase
from monitor.coaching.triggers import Match, TriggerMatcher, within_one_edit
from monitor.vocabulary import CATEGORIES, LANGUAGES

ROOT = Path(__file__).resolve().parents[1]
CALMLINE = ROOT / ".venv" / "bin" / "calmline"
#: Every labelled evaluation line (development sets and the holdout): unit tests must
#: not reuse them, or the figures in benchmarks/triggers_eval.py would flatter us.
EVAL_SETS = sorted((ROOT / "benchmarks" / "data" / "triggers").glob("*.jsonl"))

MATCHERS = {lang: TriggerMatcher(load_playbook(lang)) for lang in LANGUAGES}


def cats(lang: str, text: str, speaker: str) -> set[str]:
    return {m.category for m in MATCHERS[lang].match(text, speaker)}


# Several phrasings per category and language: written forms, ASR-style lowercase
# without punctuation, Romanian without diacritics, and a misspelling or two.
POSITIVE: dict[str, dict[str, list[str]]] = {
    "en": {
        "manager_request": ["I'd like to speak to a manager, please.", "get me your supervisor",
                            "transfer me to someone more senior", "can i talk to the person in charge",
                            "i want to speak to your supervisr"],
        "legal_threat": ["I'm going to sue you!", "you will hear from my attorney",
                         "i'll take this to the ombudsman", "im getting a lawyer involved",
                         "filing a lawsuit tomorrow"],
        "churn_threat": ["I want to cancel my account.", "we're switching to a different provider",
                         "i'm going to cancel", "I'll take my money elsewhere", "cancel my contract"],
        "abuse": ["You're an idiot.", "stupid fucking company", "oh shut up", "are you deaf",
                  "you useless moron"],
        "repeat_contact": ["This is the second time I'm calling today.", "i have called you four times",
                           "i already explained this yesterday", "nothing has changed since last week",
                           "how many more times do i have to call"],
        "calm_down": ["Calm down, please.", "just relax", "there is no need to raise your voice",
                      "please stop shouting", "dont panic"],
        "deflect": ["It's not my department.", "nothing i can do about that", "that's just the policy",
                    "you'll have to contact a different team", "not my problem"],
        "dont_know": ["I really don't know.", "no idea to be fair", "i have no clue", "dunno mate",
                      "i really dont know"],
        "blame": ["You should have checked the form.", "you typed it in wrong",
                  "you didn't follow the instructions", "it's your fault", "as i said before"],
        "empathy": ["I understand how you feel.", "I'm really sorry about this",
                    "thank you so much for your patience", "that must be so frustrating",
                    "i apologise for the trouble"],
        "paraphrase": ["So what you're saying is the bill is wrong.", "if i understood you correctly",
                       "just to double check you moved house", "let me recap", "correct me if im wrong"],
        "plan": ["I'll call you back by 5 pm.", "we'll send a new card within three working days",
                 "i'm going to raise a ticket", "you will receive a confirmation email today",
                 "here's what i'll do for you"],
    },
    "ru": {
        "manager_request": ["Позовите начальника!", "хочу поговорить с руководителем",
                            "соедините меня со старшим", "переключите на менеджера пожалуйста",
                            "позовите руководитела"],
        "legal_threat": ["Я подам в суд.", "обращусь к адвокату", "пожалуюсь в прокуратуру",
                         "мой юрист вам позвонит", "напишу жалобу в Роспотребнадзор"],
        "churn_threat": ["Я расторгаю договор.", "ухожу к другому провайдеру", "закройте мой аккаунт",
                         "хочу отказаться от ваших услуг", "больше не буду у вас ничего покупать"],
        "abuse": ["Вы идиоты!", "заткнитесь", "какая же вы тупая", "твою мать", "ну вы и уроды"],
        "repeat_contact": ["Звоню уже четвёртый раз!", "я уже звонила вчера", "опять ничего не работает",
                           "не в первый раз звоню", "сколько можно вам объяснять"],
        "calm_down": ["Успокойтесь!", "не кричите пожалуйста", "не надо так нервничать",
                      "давайте без истерик", "снизьте тон"],
        "deflect": ["Это не моя ответственность.", "ничего не могу поделать", "таковы правила",
                    "это не наш отдел", "обратитесь в другой отдел"],
        "dont_know": ["Я не знаю.", "понятия не имею где он", "я не в курсе честно", "откуда я знаю",
                      "ну без понятия"],
        "blame": ["Вы сами ошиблись.", "надо было читать договор", "вы неправильно заполнили анкету",
                  "это по вашей вине", "я же вам объяснял"],
        "empathy": ["Я вас прекрасно понимаю.", "примите наши извинения", "спасибо за ожидание",
                    "мне очень жаль, правда", "представляю как это неприятно"],
        "paraphrase": ["Правильно ли я понял, что вы переехали?", "если я правильно понимаю вы переехали",
                       "то есть у вас списали дважды", "вы имеете в виду карту", "давайте я резюмирую"],
        "plan": ["Я проверю и перезвоню вам до конца дня.", "вам позвонят в течение двух часов",
                 "оформлю возврат прямо сейчас", "мы отправим курьера завтра",
                 "номер обращения пришлю в смс"],
    },
    "bg": {
        "manager_request": ["Дайте ми управителя!", "искам да говоря с шефа", "свържете ме с ръководител",
                            "повикайте началника", "дайте ми управитля"],
        "legal_threat": ["Ще ви съдя!", "ще се оплача в КЗП", "ще се обадя на адвоката си",
                         "ще заведа дело", "ще подам сигнал в прокуратурата"],
        "churn_threat": ["Прекратявам абонамента.", "напускам ви завинаги", "сменям доставчика",
                         "ще мина към друг оператор", "закрийте ми картата"],
        "abuse": ["Идиоти!", "млъкни", "вие сте некомпетентни", "майната ти", "шибана фирма"],
        "repeat_contact": ["Обаждам се за трети път!", "вече съм звънял два пъти", "пак не работи",
                           "нищо не се оправя", "все още не е решено"],
        "calm_down": ["Успокойте се!", "не крещете", "няма нужда да викате", "спокойно моля",
                      "успокой се бе"],
        "deflect": ["Не е моя работа.", "нищо не мога да направя за вас", "такава е политиката",
                    "не зависи от нас", "системата не позволява това"],
        "dont_know": ["Ами, честно, не знам.", "нямам идея честно", "откъде да знам аз", "ние не знаем",
                      "аз не зная"],
        "blame": ["Трябваше да проверите по-рано.", "вие сте сгрешили", "грешно сте попълнили формата",
                  "не сте прочели условията", "както ви казах"],
        "empathy": ["Разбирам ви напълно.", "много съжалявам за това", "много ви благодаря за търпението",
                    "извинявайте за неудобството", "мога да си представя"],
        "paraphrase": ["Ако правилно разбирам, искате нова карта.", "тоест вие сте платили",
                       "правилно ли разбрах", "нека да обобщя", "имате предвид старата сметка"],
        "plan": ["Ще проверя и ще ви се обадя до края на деня.", "ще изпратим техник утре",
                 "в рамките на два дни ще получите отговор", "ще ескалирам проблема",
                 "ето какво ще направя за вас"],
    },
    "ro": {
        "manager_request": ["Vreau să vorbesc cu managerul!", "dati-mi seful",
                            "transferati-ma la un supervizor", "vreau sa vorbesc cu cineva de la conducere",
                            "vreau sa vorbesc cu supervizr"],
        "legal_threat": ["Vă dau în judecată!", "va dau in judecata", "merg la ANPC",
                         "o să vorbesc cu avocatul meu", "o sa fac plangere la protectia consumatorului"],
        "churn_threat": ["Vreau rezilierea contractului!", "trec la alt furnizor", "inchideti-mi cardul",
                         "renunt la serviciile voastre", "nu mai comand de la voi"],
        "abuse": ["Ești un idiot!", "taceti din gura", "sunteti niste tampiti", "du-te naibii de aici",
                  "ce rahat"],
        "repeat_contact": ["Sun a patra oară!", "am mai sunat ieri", "v-am mai spus asta",
                           "iar nu functioneaza", "nu e prima oara"],
        "calm_down": ["Calmați-vă!", "nu mai strigati", "linistiti-va", "nu va agitati asa",
                      "relaxati-va"],
        "deflect": ["Nu e vina noastră.", "nu pot face nimic pentru dumneavoastra", "asa e procedura",
                    "nu depinde de noi", "sunati la alt departament va rog"],
        "dont_know": ["Chiar nu știu.", "habar n-am ce s-a intamplat", "n-am idee unde e", "nu stiu sincer",
                      "de unde sa stim"],
        "blame": ["Trebuia să verificați!", "ati completat gresit formularul", "nu ati citit conditiile",
                  "e vina voastra", "cum v-am mai spus"],
        "empathy": ["Vă înțeleg perfect.", "imi pare rau pentru situatie", "va multumesc mult pentru rabdare",
                    "ne cerem scuze", "inteleg cat de frustrant este"],
        "paraphrase": ["Dacă am înțeles bine, vreți o rambursare.", "deci spuneti ca nu a venit",
                       "cu alte cuvinte nu merge", "sa recapitulez", "va referiti la factura"],
        "plan": ["O să verific și vă sun înapoi mâine.", "va trimitem un tehnician pana vineri",
                 "in cel mult doua zile primiti raspunsul", "inregistrez reclamatia acum",
                 "iata ce voi face"],
    },
}

POSITIVE_CASES = [
    (lang, cat, text)
    for lang, by_cat in POSITIVE.items()
    for cat, lines in by_cat.items()
    for text in lines
]


@pytest.mark.parametrize("lang, category, text", POSITIVE_CASES)
def test_positive_lines_fire_their_category(lang, category, text):
    assert category in cats(lang, text, CATEGORIES[category])


def test_every_language_and_category_has_positive_tests():
    for lang in LANGUAGES:
        assert set(POSITIVE[lang]) == set(CATEGORIES)
        assert all(len(lines) >= 5 for lines in POSITIVE[lang].values())


# Near misses: the words are there, the meaning is not. (speaker, text, category)
NEAR_MISSES = {
    "en": [
        ("customer", "the manager of my building said the parcel came", "manager_request"),
        ("customer", "my boss told me to ring you", "manager_request"),
        ("customer", "my lawyer friend recommended you", "legal_threat"),
        ("customer", "the food court was closed", "legal_threat"),
        ("customer", "they cancelled the meeting", "churn_threat"),
        ("customer", "I'd like to cancel this order please", "churn_threat"),
        ("customer", "this is my first time calling", "repeat_contact"),
        ("customer", "my daughter is such an idiot with passwords", "abuse"),
        ("operator", "calm weather today, the engineer can climb the mast", "calm_down"),
        ("operator", "your policy number is on the letter", "deflect"),
        ("operator", "you should have received an email from us", "blame"),
        ("operator", "it's not your fault", "blame"),
        ("operator", "I don't know yet, but I'll find out", "dont_know"),
        ("operator", "i don't understand what you mean", "paraphrase"),
    ],
    "ru": [
        ("customer", "начальник цеха сказал позвонить вам", "manager_request"),
        ("customer", "мой знакомый юрист посоветовал вашу фирму", "legal_threat"),
        ("customer", "судя по трекингу посылка в пути", "legal_threat"),
        ("customer", "хочу отменить бронь на пятницу", "churn_threat"),
        ("customer", "хочу поменять тариф", "churn_threat"),
        ("customer", "списали два раза за одну покупку", "repeat_contact"),
        ("customer", "моя сестра совсем дура в интернете", "abuse"),
        ("operator", "вам должно было прийти письмо", "blame"),
        ("operator", "это вовсе не ваша вина", "blame"),
        ("operator", "пока не знаю, но сейчас уточню", "dont_know"),
        ("operator", "правильно ли я понимаю что вы переехали", "empathy"),
    ],
    "bg": [
        ("customer", "управителят на блока каза че е дошла пратката", "manager_request"),
        ("customer", "приятел юрист ми препоръча фирмата", "legal_threat"),
        ("customer", "трябва ми съдействие за сметката", "legal_threat"),
        ("customer", "той иска да смени адреса си", "legal_threat"),
        ("customer", "ще мина утре през магазина", "churn_threat"),
        ("customer", "искам да анулирам поръчката си", "churn_threat"),
        ("customer", "таксуваха ме два пъти този месец", "repeat_contact"),
        ("customer", "брат ми е пълен идиот с компютрите", "abuse"),
        ("operator", "трябваше да сте получили съобщение", "blame"),
        ("operator", "още не знам, ще проверя", "dont_know"),
        ("operator", "не разбирам какво точно имате предвид", "paraphrase"),
    ],
    "ro": [
        ("customer", "managerul blocului a zis ca a venit coletul", "manager_request"),
        ("customer", "un prieten avocat ne-a recomandat firma", "legal_threat"),
        ("customer", "unde gasesc politica de confidentialitate", "legal_threat"),
        ("customer", "vreau sa anulez comanda de azi", "churn_threat"),
        ("customer", "ma mut in alt oras luna viitoare", "churn_threat"),
        ("customer", "merge prost aplicatia", "abuse"),
        ("customer", "am ratat apelul de ieri", "abuse"),
        ("customer", "mi-ati luat banii de doua ori", "repeat_contact"),
        ("operator", "trebuia sa primiti un sms", "blame"),
        ("operator", "nu e vina dumneavoastra", "blame"),
        ("operator", "inca nu stiu, verific acum", "dont_know"),
        ("operator", "procesul de comanda dureaza doua zile", "legal_threat"),
    ],
}

NEAR_CASES = [(lang, *case) for lang, cases in NEAR_MISSES.items() for case in cases]


@pytest.mark.parametrize("lang, speaker, text, category", NEAR_CASES)
def test_near_misses_do_not_fire(lang, speaker, text, category):
    # operator lines are checked for their category, customer lines for theirs
    assert category not in cats(lang, text, "call"), text


def test_polite_lines_fire_nothing():
    assert cats("en", "I called to say thanks", "customer") == set()
    assert cats("ru", "я звоню сказать спасибо", "customer") == set()
    assert cats("bg", "обаждам се да благодаря", "customer") == set()
    assert cats("ro", "am sunat sa va multumesc", "customer") == set()


NEGATED = {
    "en": [("I'm not going to sue you", "legal_threat"), ("i don't want to cancel", "churn_threat"),
           ("I won't be cancelling my contract", "churn_threat"),
           ("i have no intention of taking you to court", "legal_threat"),
           ("i don't need a supervisor", "manager_request"),
           ("i haven't called before", "repeat_contact")],
    "ru": [("я не собираюсь подавать в суд", "legal_threat"), ("не хочу расторгать договор", "churn_threat"),
           ("я не буду жаловаться в роспотребнадзор", "legal_threat"),
           ("мне не нужен руководитель", "manager_request")],
    "bg": [("няма да ви съдя", "legal_threat"), ("не искам да прекратя договора", "churn_threat"),
           ("не искам да говоря с управителя", "manager_request"),
           ("нямам намерение да ходя в КЗП", "legal_threat")],
    "ro": [("nu o să vă dau în judecată", "legal_threat"), ("nu vreau sa reziliez", "churn_threat"),
           ("nu am de gand sa merg la ANPC", "legal_threat"),
           ("nu vreau sa vorbesc cu un sef", "manager_request")],
}


@pytest.mark.parametrize(
    "lang, text, category", [(lang, t, c) for lang, cases in NEGATED.items() for t, c in cases]
)
def test_negation_cancels_the_threat(lang, text, category):
    assert category not in cats(lang, text, "customer")


@pytest.mark.parametrize(
    "lang, text",
    [("en", "if you don't refund me I will sue you"),
     ("ru", "если вы не вернёте деньги, я подам в суд"),
     ("bg", "ако не ми върнете парите ще ви съдя"),
     ("ro", "daca nu imi dati banii va dau in judecata")],
)
def test_a_condition_is_not_a_negation(lang, text):
    assert "legal_threat" in cats(lang, text, "customer")


def test_negation_stops_at_a_full_stop_and_needs_bridge_words():
    assert "legal_threat" in cats("en", "No. I will sue you.", "customer")
    assert "legal_threat" in cats("en", "I'm not happy, I will sue you", "customer")
    assert "legal_threat" in cats("en", "don't make me call my lawyer", "customer")
    assert "legal_threat" in cats("ru", "не знаю что ещё делать подам в суд", "customer")


def test_dont_know_with_a_next_step_is_not_a_bare_dont_know():
    assert "dont_know" not in cats("en", "I don't know yet but I'll find out", "operator")
    assert "dont_know" not in cats("en", "i don't know, let me check", "operator")
    assert "dont_know" in cats("en", "i don't know what to tell you", "operator")
    assert "dont_know" not in cats("ru", "не знаю, сейчас выясню", "operator")
    assert "dont_know" not in cats("bg", "не знам, ще разбера", "operator")
    assert "dont_know" not in cats("ro", "nu stiu, dar aflu imediat", "operator")


# --- speaker gating --------------------------------------------------------------------


def test_customer_categories_only_on_customer_speech_and_vice_versa():
    assert cats("en", "calm down", "customer") == set()
    assert cats("en", "calm down", "operator") == {"calm_down"}
    assert cats("en", "I want to speak to a manager", "operator") == set()
    assert cats("en", "I want to speak to a manager", "customer") == {"manager_request"}
    assert cats("ru", "успокойтесь", "customer") == set()
    assert cats("ro", "va dau in judecata", "operator") == set()


def test_mono_call_speech_gets_every_category():
    both = cats("en", "calm down, I want to speak to a manager", "call")
    assert both == {"calm_down", "manager_request"}


def test_unknown_speaker_is_an_error():
    with pytest.raises(ValueError, match="unknown speaker"):
        MATCHERS["en"].match("hello", "agent")


# --- spans --------------------------------------------------------------------------------


def check_spans(text: str, found: list[Match]) -> None:
    for m in found:
        s, e = m.span
        assert 0 <= s < e <= len(text)
        assert text[s:e] == m.text
        assert not text[s].isspace() and not text[e - 1].isspace()
        assert text[e - 1] not in ".,!?;:"


@pytest.mark.parametrize("lang, category, text", POSITIVE_CASES)
def test_spans_point_into_the_original_text(lang, category, text):
    check_spans(text, MATCHERS[lang].match(text, "call"))


def test_span_examples():
    (m,) = MATCHERS["en"].match("Well... I want to speak to your MANAGER!", "customer")
    assert m.text == "want to speak to your MANAGER"
    assert m.id == "manager_request.want_boss"
    (m,) = MATCHERS["ro"].match("Atunci: vă dau în judecată!!", "customer")
    assert m.text == "în judecată" and m.id == "legal_threat.sue"
    (m,) = MATCHERS["ru"].match("Всё, ПОЗОВИТЕ руководителя!", "customer")
    assert m.text == "ПОЗОВИТЕ руководителя"
    (m,) = MATCHERS["en"].match("I don't know.", "operator")
    assert m.text == "I don't know" and m.span == (0, 12)


def test_spans_survive_decomposed_accents_and_typos():
    text = unicodedata.normalize("NFD", "Vă dau în judecată")
    (m,) = MATCHERS["ro"].match(text, "customer")
    assert text[m.span[0]:m.span[1]] == m.text
    assert m.text.endswith(unicodedata.normalize("NFD", "ă"))
    (m,) = MATCHERS["en"].match("put me through to your Supervisr now", "customer")
    assert m.text == "put me through to your Supervisr"


def test_matches_are_sorted_by_position_and_deterministic():
    text = "I understand, and I'm sorry. I will call you back by tomorrow."
    first = MATCHERS["en"].match(text, "operator")
    assert [m.span[0] for m in first] == sorted(m.span[0] for m in first)
    assert {m.category for m in first} == {"empathy", "plan"}
    assert MATCHERS["en"].match(text, "operator") == first
    assert TriggerMatcher(load_playbook("en")).match(text, "operator") == first


def test_empty_and_punctuation_only_lines():
    for text in ("", "   ", "...", "?!"):
        assert MATCHERS["en"].match(text, "customer") == []


def test_match_as_dict():
    (m,) = MATCHERS["en"].match("i will sue", "customer")
    assert m.to_dict() == {"category": "legal_threat", "id": "legal_threat.sue", "span": [7, 10]}


# --- folding ----------------------------------------------------------------------------


def test_fold_removes_case_punctuation_and_diacritics():
    assert fold_phrase("Ș ş Ț ţ Ă Â Î") == "s s t t a a i"
    assert fold_phrase("Ёлка, мой ЙОД") == "елка мои иод"
    assert fold_phrase("I DON'T know… don’t") == "i dont know dont"
    assert fold_phrase("n-am dat-o") == "n am dat o"
    assert fold_phrase("Съдът, КЗП!") == "съдът кзп"
    assert fold_phrase("  ") == ""


def test_fold_keeps_cyrillic_and_maps_back():
    text = "Ну, ПОЗОВИТЕ ёжика!"
    f = fold(text)
    assert f.text == "ну позовите ежика"
    for s, e in f.tokens:
        os_, oe = f.span(s, e)
        assert fold_phrase(text[os_:oe]) == f.text[s:e]
    assert f.breaks == frozenset({1})


def test_fold_of_decomposed_text_covers_the_marks():
    text = unicodedata.normalize("NFD", "țară")
    f = fold(text)
    assert f.text == "tara"
    assert f.span(0, 4) == (0, len(text))


def test_within_one_edit():
    assert within_one_edit("supervisor", "supervisr")
    assert within_one_edit("manager", "manger")
    assert within_one_edit("lawyer", "lawyre")
    assert within_one_edit("abc", "abc")
    assert not within_one_edit("manager", "managers1")
    assert not within_one_edit("contract", "contact1")


def test_typo_repair_is_conservative():
    m = MATCHERS["en"]
    assert m.repair("supervisr") == "supervisor"
    assert m.repair("attourney") == "attourney" or m.repair("attourney").startswith("attorney")
    assert m.repair("managed") == "managed"  # listed in [fuzzy] ignore
    assert m.repair("short") == "short"
    assert MATCHERS["ru"].repair("руковадителя") == "руководителя"


# --- CLI ---------------------------------------------------------------------------------


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [str(CALMLINE), "triggers", *args],
        input=stdin.encode("utf-8"),
        capture_output=True,
        timeout=60,
        env=env,
    )


def test_cli_answers_each_line_in_order_as_soon_as_it_is_read():
    proc = subprocess.Popen(
        [str(CALMLINE), "triggers", "--language", "ru", "--speaker", "customer"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"),
    )
    assert proc.stdin and proc.stdout
    replies = []
    try:
        # each reply is read before the next line is written: the command must flush
        for line in ("Позовите руководителя!\n", "\n", "я подам на вас в суд\r\n"):
            proc.stdin.write(line.encode("utf-8"))
            proc.stdin.flush()
            replies.append(proc.stdout.readline().decode("utf-8"))
        proc.stdin.write("спасибо".encode("utf-8"))  # last line without a newline
    finally:
        proc.stdin.close()
    replies.append(proc.stdout.readline().decode("utf-8"))
    assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    assert "Позовите" in replies[0]  # ensure_ascii=False
    out = [json.loads(r) for r in replies]
    assert [o["text"] for o in out] == ["Позовите руководителя!", "", "я подам на вас в суд", "спасибо"]
    assert [[t["category"] for t in o["triggers"]] for o in out] == [
        ["manager_request"], [], ["legal_threat"], []]
    first = out[0]["triggers"][0]
    assert set(first) == {"category", "id", "span"}
    assert first["id"] == "manager_request.put_through" and first["span"] == [0, 21]


def test_cli_bad_language_is_a_one_line_error():
    proc = run_cli("--language", "de", "--speaker", "customer", stdin="hello\n")
    assert proc.returncode == 2
    err = proc.stderr.decode("utf-8").strip()
    assert err.startswith("calmline: error:") and "'de'" in err and "en, ru, bg, ro" in err
    assert "\n" not in err and "Traceback" not in err and proc.stdout == b""


def test_cli_uses_a_user_playbook_folder(tmp_path):
    src = (ROOT / "monitor" / "coaching" / "playbooks" / "en.toml").read_text(encoding="utf-8")
    custom = src.replace('manager_request = [\n', 'manager_request = [\n  { id = "big_cheese", pattern = "big cheese" },\n')
    (tmp_path / "en.toml").write_text(custom, encoding="utf-8")
    proc = run_cli("-l", "en", "-s", "customer", "--playbook", str(tmp_path),
                   stdin="get me the big cheese\ncalm down\n")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(x) for x in proc.stdout.decode("utf-8").splitlines()]
    assert out[0]["triggers"] == [{"category": "manager_request", "id": "manager_request.big_cheese",
                                   "span": [11, 21]}]
    assert out[1] == {"text": "calm down", "triggers": []}  # an operator phrase, customer speech


# --- regression: phrasing classes missed by the blind evaluation set -----------------------
# New sentences (none of them is in triggers_eval.jsonl or triggers_blind.jsonl), one or more per
# class of phrasing, with near misses: (language, category, text, should_fire).
CLASS_CASES = [
    ('en', 'repeat_contact', "I've been calling you for three days now", True),
    ('en', 'repeat_contact', "we have been ringing you since monday", True),
    ('en', 'repeat_contact', "i've been trying to get through for a week", True),
    ('en', 'repeat_contact', "do I have to go through all of this again", True),
    ('en', 'repeat_contact', "why do i have to repeat everything again", True),
    ('en', 'repeat_contact', "i need to explain the whole thing again do i", True),
    ('en', 'repeat_contact', "I told the lady on the phone all this yesterday", True),
    ('en', 'repeat_contact', "i explained this to your colleague on tuesday", True),
    ('en', 'repeat_contact', "I already went over this with the last person", True),
    ('en', 'repeat_contact', "i spoke to one of your colleagues about this last week", True),
    ('en', 'repeat_contact', "I told my wife about the offer yesterday", False),
    ('en', 'repeat_contact', "i have been a customer for ten years", False),
    ('en', 'churn_threat', "I'm going to Vodafone instead", True),
    ('en', 'churn_threat', "fine, I'll switch to Sky then", True),
    ('en', 'churn_threat', "we're moving over to EE instead", True),
    ('en', 'churn_threat', "i won't be your customer any more", True),
    ('en', 'churn_threat', "I'm not going to be a customer of yours much longer", True),
    ('en', 'churn_threat', "consider me an ex customer", True),
    ('en', 'churn_threat', "just disconnect me", True),
    ('en', 'churn_threat', "disconnect my line today", True),
    ('en', 'churn_threat', "if you don't sort this out by monday I'm leaving", True),
    ('en', 'churn_threat', "unless this is fixed today we're gone", True),
    ('en', 'churn_threat', "fix it or I'm off to another provider", True),
    ('en', 'churn_threat', "I'm going to the shop instead", False),
    ('en', 'churn_threat', "I'm leaving for work now", False),
    ('en', 'churn_threat', "I'm switching to paperless billing", False),
    ('en', 'churn_threat', "the call disconnected me twice", False),
    ('en', 'churn_threat', "I'm not leaving, I just want it fixed", False),
    ('en', 'churn_threat', "if the engineer comes I'll be leaving the key with my neighbour", False),
    ('en', 'deflect', "you'll need to take that up with accounts, not me", True),
    ('en', 'deflect', "take it up with the courier", True),
    ('en', 'deflect', "that's for the sales team to sort out, not us", True),
    ('en', 'deflect', "I don't decide that", True),
    ('en', 'deflect', "it's not me who makes that call", True),
    ('en', 'deflect', "that's not for me to decide", True),
    ('en', 'deflect', "I'll take that up with the billing team for you", False),
    ('en', 'dont_know', "dont know to be honest", True),
    ('en', 'dont_know', "no, don't know", True),
    ('en', 'dont_know', "you don't know your account number?", False),
    ('en', 'blame', "you ignored all the warnings we sent", True),
    ('en', 'blame', "you skipped the verification step", True),
    ('en', 'blame', "you let the payment lapse", True),
    ('en', 'blame', "I'm sorry we ignored your emails", False),
    ('en', 'manager_request', "put me through to someone who can actually make a decision", True),
    ('en', 'manager_request', "i want someone who actually has authority", True),
    ('en', 'manager_request', "is there anyone there who is actually in charge", True),
    ('en', 'plan', "let me check", False),
    ('en', 'plan', "let me just look that up", False),
    ('en', 'plan', "I'll have a look", False),
    ('en', 'plan', "I'll send you the refund form today", True),
    ('en', 'plan', "I'll call you back once I've spoken to the engineers", True),
    ('en', 'plan', "I'll arrange a technician for thursday", True),
    ('en', 'plan', "let me book that engineer visit for you", True),
    ('ru', 'repeat_contact', "я вам уже месяц звоню", True),
    ('ru', 'repeat_contact', "третью неделю до вас дозваниваюсь", True),
    ('ru', 'repeat_contact', "названиваю вам с понедельника", True),
    ('ru', 'repeat_contact', "звоню вам с прошлой недели и всё без толку", True),
    ('ru', 'repeat_contact', "мне что, заново всё рассказывать?", True),
    ('ru', 'repeat_contact', "опять объяснять с самого начала", True),
    ('ru', 'repeat_contact', "я уже всё рассказывала вашей коллеге на прошлой неделе", True),
    ('ru', 'repeat_contact', "я это говорил вашему сотруднику вчера", True),
    ('ru', 'repeat_contact', "сколько можно одно и то же повторять", True),
    ('ru', 'repeat_contact', "звоню вам с новой сим карты", False),
    ('ru', 'repeat_contact', "посылку жду уже третью неделю", False),
    ('bg', 'repeat_contact', "чакам пратката от две седмици", False),
    ('ro', 'repeat_contact', "aștept coletul de două săptămâni", False),
    ('ru', 'repeat_contact', "я рассказала мужу про вашу акцию", False),
    ('ru', 'churn_threat', "уйду к мтс", True),
    ('ru', 'churn_threat', "перехожу на мегафон и точка", True),
    ('ru', 'churn_threat', "переключусь на теле2 завтра же", True),
    ('ru', 'churn_threat', "я больше не буду вашим клиентом", True),
    ('ru', 'churn_threat', "не хочу больше быть вашим абонентом", True),
    ('ru', 'churn_threat', "отключайте меня совсем", True),
    ('ru', 'churn_threat', "отключите меня от всего", True),
    ('ru', 'churn_threat', "если до пятницы не почините, я ухожу", True),
    ('ru', 'churn_threat', "не решите вопрос — уйду от вас", True),
    ('ru', 'churn_threat', "я не собираюсь ничего расторгать", False),
    ('ru', 'churn_threat', "я не хочу ничего отключать, просто объясните", False),
    ('ru', 'churn_threat', "перехожу на новый тариф внутри вашей компании", False),
    ('ru', 'churn_threat', "ухожу на обед через час", False),
    ('ru', 'churn_threat', "интернет отключился утром", False),
    ('ru', 'deflect', "не я это решаю", True),
    ('ru', 'deflect', "такие вопросы решаю не я", True),
    ('ru', 'deflect', "ну такая у нас политика", True),
    ('ru', 'deflect', "политика такая", True),
    ('ru', 'deflect', "это вопрос к бухгалтерии, не ко мне", True),
    ('ru', 'deflect', "это не в моем отделе", True),
    ('ru', 'deflect', "это не по моей части", True),
    ('ru', 'deflect', "обращайтесь в бухгалтерию, а не ко мне", True),
    ('ru', 'deflect', "я сейчас решу ваш вопрос", False),
    ('ru', 'dont_know', "а я откуда знаю", True),
    ('ru', 'dont_know', "мне-то откуда знать", True),
    ('ru', 'dont_know', "я почем знаю", True),
    ('ru', 'calm_down', "не переживайте вы так сильно", True),
    ('ru', 'calm_down', "не надо так волноваться", True),
    ('ru', 'calm_down', "давайте поспокойнее", True),
    ('ru', 'calm_down', "не волнуйтесь, я всё исправлю", False),
    ('ru', 'calm_down', "на море сегодня спокойно", False),
    ('ru', 'blame', "вы указали не тот адрес", True),
    ('ru', 'blame', "вы ведь проигнорировали уведомление", True),
    ('ru', 'blame', "надо было сразу оплатить", True),
    ('ru', 'blame', "вам стоило прочитать условия", True),
    ('ru', 'blame', "мне нужно было уточнить у коллег", False),
    ('ru', 'blame', "вы ввели правильный номер, ошибка у нас", False),
    ('ru', 'empathy', "простите что так вышло", True),
    ('ru', 'empathy', "извините за это", True),
    ('ru', 'manager_request', "а есть кто-нибудь постарше вас", True),
    ('ru', 'manager_request', "есть кто-то из руководства кто может решить вопрос", True),
    ('ru', 'paraphrase', "то есть проблема началась во вторник, верно?", True),
    ('ru', 'paraphrase', "получается счет пришел дважды да", True),
    ('ru', 'plan', "запишу вас на выезд мастера в пятницу", True),
    ('ru', 'plan', "оформлю возврат и пришлю вам смс", True),
    ('ru', 'plan', "сейчас отменю платеж и верну деньги на карту", True),
    ('ru', 'plan', "передам заявку техникам и они вам перезвонят", True),
    ('ru', 'plan', "давайте уточню адрес доставки", False),
    ('ru', 'plan', "сейчас проверю", False),
    ('ru', 'abuse', "сосед у меня идиот, паркуется как попало", False),
    ('ru', 'abuse', "брат у меня дурак совсем", False),
    ('ru', 'abuse', "вы идиоты", True),
    ('bg', 'repeat_contact', "звъня ви от три дни", True),
    ('bg', 'repeat_contact', "вече месец ви търся", True),
    ('bg', 'repeat_contact', "цяла седмица не мога да се свържа с вас", True),
    ('bg', 'repeat_contact', "пак ли да обяснявам от начало", True),
    ('bg', 'repeat_contact', "трябва ли отново да разказвам всичко", True),
    ('bg', 'repeat_contact', "казах всичко това на вашата колежка вчера", True),
    ('bg', 'repeat_contact', "обясних на вашия колега миналия път", True),
    ('bg', 'repeat_contact', "звъня ви от новия си номер", False),
    ('bg', 'churn_threat', "отивам при а1 и край", True),
    ('bg', 'churn_threat', "минавам към йеттел", True),
    ('bg', 'churn_threat', "преминавам към друг оператор от утре", True),
    ('bg', 'churn_threat', "ще ви сменя с виваком", True),
    ('bg', 'churn_threat', "не искам повече да съм ваш клиент", True),
    ('bg', 'churn_threat', "повече няма да бъда ваш абонат", True),
    ('bg', 'churn_threat', "махам се от вас", True),
    ('bg', 'churn_threat', "ако до петък не е оправено, напускам", True),
    ('bg', 'churn_threat', "изключете ме напълно", True),
    ('bg', 'churn_threat', "минавам към въпроса за сметката", False),
    ('bg', 'churn_threat', "отивам при лекаря утре", False),
    ('bg', 'churn_threat', "не искам да се махам от вас, искам да се оправи", False),
    ('bg', 'deflect', "не е по моята част", True),
    ('bg', 'deflect', "това не е в моя отдел", True),
    ('bg', 'deflect', "не аз решавам това", True),
    ('bg', 'deflect', "аз тук нищо не решавам", True),
    ('bg', 'deflect', "обърнете се към счетоводството, не към мен", True),
    ('bg', 'deflect', "това е въпрос към техническия отдел", True),
    ('bg', 'deflect', "аз ще реша проблема ви", False),
    ('bg', 'dont_know', "абе незнам", True),
    ('bg', 'dont_know', "откъде аз да знам", True),
    ('bg', 'calm_down', "нека се успокоим", True),
    ('bg', 'calm_down', "не се вълнувайте така", True),
    ('bg', 'calm_down', "днес морето е спокойно", False),
    ('bg', 'calm_down', "спокойно ще стигне до вас утре", False),
    ('bg', 'calm_down', "спокойно, моля ви", True),
    ('bg', 'blame', "вие сте въвели грешен адрес", True),
    ('bg', 'blame', "въвели сте грешен номер", True),
    ('bg', 'blame', "попълнили сте формуляра неправилно", True),
    ('bg', 'blame', "вие сте пропуснали напомнянията ни", True),
    ('bg', 'blame', "трябваше да си запазите разписката", True),
    ('bg', 'abuse', "майка ви да еба", True),
    ('bg', 'abuse', "вие луди ли сте", True),
    ('bg', 'abuse', "нормални ли сте вие", True),
    ('bg', 'abuse', "съседът ни е пълен идиот", False),
    ('bg', 'abuse', "съседът е идиот, паркира пред гаража", False),
    ('bg', 'abuse', "това нормално ли е", False),
    ('bg', 'empathy', "извинете, че така се получи", True),
    ('bg', 'manager_request', "има ли някой по-горе от вас", True),
    ('bg', 'paraphrase', "значи сметката дойде двойна, така ли", True),
    ('bg', 'plan', "ще прехвърля случая на техниците и те ще ви се обадят", True),
    ('bg', 'plan', "ще предам въпроса на колегите и те ще се свържат с вас утре", True),
    ('bg', 'plan', "изпращам ви нова карта днес", True),
    ('bg', 'plan', "ще проверя", False),
    ('bg', 'plan', "момент, ще видя", False),
    ('ro', 'repeat_contact', "vă caut de trei zile", True),
    ('ro', 'repeat_contact', "sun de o săptămână și nu răspunde nimeni", True),
    ('ro', 'repeat_contact', "de o lună tot încerc să vă prind", True),
    ('ro', 'repeat_contact', "iar trebuie să povestesc totul de la început?", True),
    ('ro', 'repeat_contact', "să explic din nou toată povestea", True),
    ('ro', 'repeat_contact', "i-am spus colegei dumneavoastră tot asta ieri", True),
    ('ro', 'repeat_contact', "am explicat totul colegului vostru săptămâna trecută", True),
    ('ro', 'repeat_contact', "vă sun de pe numărul soției", False),
    ('ro', 'churn_threat', "mă duc la orange și gata", True),
    ('ro', 'churn_threat', "trec la vodafone de luna viitoare", True),
    ('ro', 'churn_threat', "mă mut la rcs", True),
    ('ro', 'churn_threat', "nu mai vreau să fiu client la voi", True),
    ('ro', 'churn_threat', "nu o să mai fiu clientul vostru", True),
    ('ro', 'churn_threat', "dacă nu rezolvați până vineri, plec", True),
    ('ro', 'churn_threat', "deconectați-mă de tot", True),
    ('ro', 'churn_threat', "trec la subiectul facturii", False),
    ('ro', 'churn_threat', "mă duc la muncă acum", False),
    ('ro', 'churn_threat', "plec in concediu vineri", False),
    ('ro', 'deflect', "nu ține de mine asta, e la contabilitate", True),
    ('ro', 'deflect', "asta nu e departamentul meu", True),
    ('ro', 'deflect', "nu ține de departamentul nostru", True),
    ('ro', 'deflect', "nu eu hotărăsc asta", True),
    ('ro', 'deflect', "nu decid eu", True),
    ('ro', 'deflect', "eu nu decid lucrurile astea", True),
    ('ro', 'deflect', "adresați-vă la service, nu mie", True),
    ('ro', 'deflect', "asta e o întrebare pentru departamentul tehnic", True),
    ('ro', 'deflect', "eu decid să vă ajut acum", False),
    ('ro', 'calm_down', "hai să ne liniștim puțin", True),
    ('ro', 'calm_down', "haideți să ne calmăm", True),
    ('ro', 'calm_down', "nu vă mai agitați așa", True),
    ('ro', 'blame', "ați introdus o adresă greșită", True),
    ('ro', 'blame', "ați trecut un cod greșit", True),
    ('ro', 'blame', "ați ignorat toate notificările noastre", True),
    ('ro', 'blame', "trebuia să păstrați chitanța", True),
    ('ro', 'blame', "trebuia să ne sunați înainte", True),
    ('ro', 'blame', "trebuia să primiți un mesaj", False),
    ('ro', 'abuse', "sunteți niște incapabili", True),
    ('ro', 'abuse', "vecinul meu e un idiot, parchează pe trotuar", False),
    ('ro', 'abuse', "sora mea e cam proastă cu tehnologia", False),
    ('ro', 'legal_threat', "vecinul parchează în fața porții", False),
    ('ro', 'legal_threat', "am parcat mașina acolo", False),
    ('ro', 'legal_threat', "fac plângere la parchet", True),
    ('ro', 'empathy', "îmi cer scuze că s-a întâmplat așa", True),
    ('ro', 'manager_request', "există cineva mai sus decât dumneavoastră?", True),
    ('ro', 'manager_request', "vreau pe cineva care chiar poate hotărî", True),
    ('ro', 'paraphrase', "deci factura a venit de două ori, da?", True),
    ('ro', 'paraphrase', "să verific că am înțeles, nu v-a venit coletul", True),
    ('ro', 'plan', "anulez plata dublă și mâine primiți banii", True),
    ('ro', 'plan', "vă programez un tehnician pentru joi", True),
    ('ro', 'plan', "returnez banii pe card astăzi", True),
    ('ro', 'plan', "transmit cererea la colegi și vă sună ei mâine", True),
    ('ro', 'plan', "încă nu știu, dar aflu", False),
    ('ro', 'plan', "un moment, mă uit în sistem", False),
]


@pytest.mark.parametrize("lang, category, text, should_fire", CLASS_CASES)
def test_phrasing_classes(lang, category, text, should_fire):
    found = category in cats(lang, text, CATEGORIES[category])
    assert found == should_fire, text


def test_looking_something_up_is_not_a_plan_but_a_commitment_is():
    # Checking right now is not a plan; a concrete action or a promise to come back is.
    for lang, lookup, commitment in [
        ("en", "hang on, I'll check", "I'll check and ring you back this afternoon"),
        ("ru", "секунду, я проверю", "я проверю и перезвоню вам сегодня"),
        ("bg", "момент, ще погледна и ще проверя", "ще проверя и ще ви се обадя следобед"),
        ("ro", "o secunda, verific", "verific si va sun inapoi dupa pranz"),
    ]:
        assert "plan" not in cats(lang, lookup, "operator"), lookup
        assert "plan" in cats(lang, commitment, "operator"), commitment


# --- regression: phrasing classes missed by the second blind set (triggers_blind2.jsonl) -------
# New sentences, none of them an evaluation line, with near misses that must stay quiet:
# (language, category, text, should_fire).
CLASS_CASES_2 = [
    # blame without "you should have": plain facts about the customer's own action
    ('en', 'blame', "you never ticked the paperless option", True),
    ('en', 'blame', "it got blocked because you stopped the standing order", True),
    ('en', 'blame', "you turned down the extended warranty yourself", True),
    ('en', 'blame', "if you'd topped up in time none of this would have happened", True),
    ('en', 'blame', "it wouldn't have been suspended if you had called us", True),
    ('en', 'blame', "you can change the password yourself in the app", False),
    ('en', 'blame', "you should have received a text from us", False),
    # plan: present continuous commitments; vague reassurance and information are not plans
    ('en', 'plan', "I'm sending a replacement router out today", True),
    ('en', 'plan', "we're reissuing the card, it should arrive on Friday", True),
    ('en', 'plan', "I'll fix that for you right now", True),
    ('en', 'plan', "don't worry, we'll sort it out", False),
    ('en', 'plan', "I'm checking your account now", False),
    ('en', 'plan', "you should see the money on your next bill", False),
    # manager request without role words
    ('en', 'manager_request', "can you pass me to somebody higher up", True),
    ('en', 'manager_request', "I want a word with whoever's over you", True),
    ('en', 'manager_request', "give me your supervisor's full name", True),
    ('en', 'manager_request', "is there anyone above you", True),
    # deflect
    ('en', 'deflect', "that's not something our team looks after", True),
    ('en', 'deflect', "that's the delivery company's problem", True),
    ('en', 'deflect', "it was the courier's fault, not ours", True),
    ('en', 'deflect', "the system did that, it wasn't down to me", True),
    ('en', 'deflect', "sorry but that's the way things work", True),
    ('en', 'deflect', "that's how it works: you get a code by text and type it in", False),
    # "make sure I understand" is a paraphrase, not empathy
    ('en', 'empathy', "just to be sure I understand, the parcel never came", False),
    ('en', 'empathy', "I totally get why you are cross", True),
    # neutral mentions
    ('en', 'calm_down', "it usually gets calmer once things calm down in spring", False),
    ('en', 'calm_down', "let's keep things calm and go step by step", True),
    ('en', 'calm_down', "try not to get so wound up about it", True),
    ('en', 'abuse', "my ex landlord was a total idiot about the deposit", False),
    ('en', 'abuse', "honestly you are a complete idiot, mate", True),
    ('en', 'repeat_contact', "I rang on Monday and the lady sorted it, just checking the credit", False),
    ('en', 'repeat_contact', "I already gave you my postcode twice", True),
]


CLASS_CASES_2 += [
    ('ru', 'blame', "вы же сами отключили автоплатёж", True),
    ('ru', 'blame', "вы не передали показания в срок", True),
    ('ru', 'blame', "счётчик вы неверно указали", True),
    ('ru', 'blame', "если бы вы вовремя заплатили, такого бы не было", True),
    ('ru', 'blame', "правильно понимаю, вы не получили посылку", False),
    ('ru', 'blame', "если вы не поставили галочку, можно поставить сейчас", False),
    ('ru', 'plan', "записываю вас к мастеру на четверг", True),
    ('ru', 'plan', "мы перевыпустим карту за неделю", True),
    ('ru', 'plan', "я уже оформляю", True),
    ('ru', 'plan', "не переживайте, разберёмся", False),
    ('ru', 'plan', "сейчас посмотрю заявку", False),
    ('ru', 'manager_request', "есть над вами кто-нибудь?", True),
    ('ru', 'manager_request', "дайте мне того, кто у вас решает", True),
    ('ru', 'manager_request', "как зовут вашего руководителя", True),
    ('ru', 'paraphrase', "то есть заказ пришёл пустой?", True),
    ('ru', 'paraphrase', "вы оплатили дважды, верно?", True),
    ('ru', 'paraphrase', "а вы это где видели, правильно?", False),
    ('ru', 'deflect', "от меня это вообще не зависит", True),
    ('ru', 'dont_know', "фиг его знает, где она", True),
    ('ru', 'calm_down', "не надо повышать на меня голос, пожалуйста", True),
    ('ru', 'calm_down', "к весне всё успокоится", False),
    ('ru', 'legal_threat', "я уже со своим юристом поговорил", True),
    ('ru', 'legal_threat', "нужна справка для суда", False),
    ('ru', 'churn_threat', "хочу закрыть вклад досрочно", False),
    ('ru', 'churn_threat', "переведу зарплату в альфу и всё", True),
    ('ru', 'abuse', "горе-специалисты, честное слово", True),
    ('ru', 'abuse', "бывший сосед был полный идиот", False),
]

CLASS_CASES_2 += [
    ('bg', 'blame', "не сте отметнали съгласието", True),
    ('bg', 'blame', "ако не сте отметнали съгласието, може да го направим сега", False),
    ('bg', 'blame', "вие сами сте се отказали от услугата", True),
    ('bg', 'blame', "подали сте грешно данните", True),
    ('bg', 'blame', "ако бяхте платили навреме, нямаше да има такса", True),
    ('bg', 'plan', "ще преиздадем договора и ще ви го пратим", True),
    ('bg', 'plan', "аз го заявявам веднага", True),
    ('bg', 'plan', "техникът ще дойде в сряда", True),
    ('bg', 'plan', "ще го оправим, не се тревожете", False),
    ('bg', 'plan', "сега отварям заявката", False),
    ('bg', 'manager_request', "свържете ме с някой по-отгоре, моля", True),
    ('bg', 'manager_request', "има ли шеф при вас", True),
    ('bg', 'manager_request', "как се казва вашият шеф", True),
    ('bg', 'deflect', "вината не е наша", True),
    ('bg', 'deflect', "проблемът е на спиди", True),
    ('bg', 'paraphrase', "искате нова карта, нали", True),
    ('bg', 'paraphrase', "можете да платите онлайн, нали", False),
    ('bg', 'churn_threat', "ще си пренеса номера при друг оператор", True),
    ('bg', 'churn_threat', "искам да прехвърля парите на картата", False),
    ('bg', 'abuse', "бившата хазяйка беше голям глупак", False),
    ('bg', 'legal_threat', "полицията поиска справка", False),
    ('bg', 'legal_threat', "трябва ми документ за полицията", False),
    ('bg', 'legal_threat', "ще се обадя в полицията", True),
]

CLASS_CASES_2 += [
    ('ro', 'blame', "nu ați selectat livrarea rapidă", True),
    ('ro', 'blame', "dacă nu ați selectat livrarea rapidă, o putem schimba acum", False),
    ('ro', 'blame', "dacă nu v-ați citit mesajele, nu e vina noastră", True),
    ('ro', 'blame', "dumneavoastră ați anulat plata automată", True),
    ('ro', 'blame', "ați declarat un index greșit", True),
    ('ro', 'plan', "ați declarat un index greșit", False),
    ('ro', 'plan', "reemitem contractul și vi-l trimitem", True),
    ('ro', 'plan', "fac rambursarea imediat", True),
    ('ro', 'plan', "îl programez eu pentru joi", True),
    ('ro', 'plan', "curierul trece miercuri să ia coletul", True),
    ('ro', 'plan', "nu vă faceți griji, rezolvăm", False),
    ('ro', 'plan', "o clipă, deschid contul dumneavoastră", False),
    ('ro', 'plan', "după vacanță prețurile revin la normal", False),
    ('ro', 'plan', "comanda dumneavoastră a fost livrată", False),
    ('ro', 'manager_request', "aveți un șef acolo?", True),
    ('ro', 'manager_request', "cum îl cheamă pe șeful dumneavoastră", True),
    ('ro', 'deflect', "e problema magazinului, nu a noastră", True),
    ('ro', 'deflect', "nu e echipa noastră", True),
    ('ro', 'calm_down', "haideți mai cu calm, vă rog", True),
    ('ro', 'paraphrase', "nu aveți semnal de ieri, corect?", True),
    ('ro', 'paraphrase', "vreți factura pe email, nu?", True),
    ('ro', 'paraphrase', "puteți plăti online, nu?", False),
    ('ro', 'empathy', "scuze că a durat atât", True),
    ('ro', 'legal_threat', "poliția mi-a cerut actele", False),
    ('ro', 'legal_threat', "am nevoie de un extras pentru poliție", False),
    ('ro', 'legal_threat', "merg la poliție", True),
    ('ro', 'churn_threat', "vreau să închid depozitul la scadență", False),
    ('ro', 'abuse', "fostul proprietar e un idiot", False),
]


@pytest.mark.parametrize("lang, category, text, should_fire", CLASS_CASES_2)
def test_phrasing_classes_of_the_second_blind_set(lang, category, text, should_fire):
    found = category in cats(lang, text, CATEGORIES[category])
    assert found == should_fire, text


# --- regression: phrasing classes missed by the third blind set (triggers_blind3.jsonl) --------
# New sentences, none of them an evaluation line, with near misses that must stay quiet:
# (language, category, text, should_fire).
CLASS_CASES_3: list[tuple[str, str, str, bool]] = []

CLASS_CASES_3 += [
    # churn without "cancel": end of contract, switching to a named rival, never again, not renewing, elsewhere
    ('en', 'churn_threat', "when the contract ends in june i'm off to a different supplier", True),
    ('en', 'churn_threat', "I'm off to another network the second this is sorted", True),
    ('en', 'churn_threat', "once our fixed term is over we're switching, no question", True),
    ('en', 'churn_threat', 'seriously considering switching to octopus after this', True),
    ('en', 'churn_threat', 'might just switch over to sky then', True),
    ('en', 'churn_threat', "I'm thinking of switching to paperless billing", False),
    ('en', 'churn_threat', 'can I switch to direct debit please', False),
    ('en', 'churn_threat', 'I will never travel with your airline again', True),
    ('en', 'churn_threat', "we'll never bank with you lot again after this", True),
    ('en', 'churn_threat', "I won't be renewing the policy, I'll take it out with a different insurer", True),
    ('en', 'churn_threat', "we're not renewing with you next year", True),
    ('en', 'churn_threat', "I'll just have the boiler serviced somewhere else", True),
    ('en', 'churn_threat', "I'd rather take my car to another garage, I'll get it done elsewhere", True),
    ('en', 'churn_threat', 'my contract ends in june, can you tell me the early exit fee', False),
    ('en', 'churn_threat', "the app said it won't renew automatically, is that right", False),
    ('en', 'churn_threat', 'we moved the sofa elsewhere in the room', False),
    # manager request: someone competent
    ('en', 'manager_request', 'can you find me somebody more competent please', True),
    ('en', 'manager_request', "I need someone who actually knows what they're doing, not you", True),
    # plan: information and vague conditionals are not plans; a call back is
    ('en', 'plan', "you'll get a text message when the driver is on his way", False),
    ('en', 'plan', 'you should get an email once the refund is processed', False),
    ('en', 'plan', 'you should get the email within the hour', True),
    ('en', 'plan', "honestly I can't say when the courier will arrive", False),
    ('en', 'plan', "if we need anything else from you we'll give you a ring", False),
    ('en', 'plan', "if anything changes we'll let you know", False),
    ('en', 'plan', "I'll call you back this afternoon with the result", True),
    ('en', 'plan', 'the engineer will be with you on thursday morning', True),
    ('en', 'plan', "I'll check with the warehouse and ring you back", True),
    # deflect with a hedge; an apology that introduces a deflection is not empathy
    ('en', 'deflect', "that's not strictly our department, you want the lettings team", True),
    ('en', 'empathy', "sorry, but that's not really something we deal with", False),
    ('en', 'empathy', "I'm so sorry about the wait, that's not how it should be", True),
    # repeat contact in writing; calling back after a dropped line is not
    ('en', 'repeat_contact', "I've written you two letters and nobody answered", True),
    ('en', 'repeat_contact', 'I sent a couple of messages through the app and never got a reply', True),
    ('en', 'repeat_contact', 'I submitted the online form twice already', True),
    ('en', 'repeat_contact', 'hi, we got cut off a minute ago, I was calling back about the refund', False),
    ('en', 'repeat_contact', 'I rang before but the call dropped', False),
    ('en', 'repeat_contact', 'I had nothing to do with that payment', False),
    # calm down
    ('en', 'calm_down', "no, don't get all worked up, we can sort it", True),
    ('en', 'calm_down', "please don't get agitated, it's just a form", True),
    # swearing at a device is not abuse
    ('en', 'abuse', 'this fucking router keeps dropping out', False),
    ('en', 'abuse', "you're a fucking joke, all of you", True),
]

CLASS_CASES_3 += [
    # churn without "cancel": never again, not renewing, going elsewhere, another provider
    ('ru', 'churn_threat', 'я больше никогда не буду у вас заказывать', True),
    ('ru', 'churn_threat', 'никогда больше не поеду вашим перевозчиком', True),
    ('ru', 'churn_threat', 'подписку продлевать мы не будем', True),
    ('ru', 'churn_threat', 'я не продлю договор, перейду в другую компанию', True),
    ('ru', 'churn_threat', 'страховаться буду в другой страховой', True),
    ('ru', 'churn_threat', 'лекарства буду покупать в другой аптеке', True),
    ('ru', 'churn_threat', 'я никогда не летал этим рейсом', False),
    ('ru', 'churn_threat', 'как продлить полис на следующий год', False),
    ('ru', 'churn_threat', 'мне не продлили пропуск', False),
    # manager: someone competent
    ('ru', 'manager_request', 'дайте мне кого-нибудь более грамотного', True),
    ('ru', 'manager_request', 'соедините с тем кто реально разбирается', True),
    # repeat contact in writing; a call back after a dropped line is not
    ('ru', 'repeat_contact', 'два письма вам отправил и тишина', True),
    ('ru', 'repeat_contact', 'писала и в чат и на почту, никто не ответил', True),
    ('ru', 'repeat_contact', 'ноль реакции на мою жалобу', True),
    ('ru', 'repeat_contact', 'связь оборвалась, звоню снова', False),
    ('ru', 'repeat_contact', 'я уже звонила минуту назад, но связь прервалась', False),
    # blame
    ('ru', 'blame', 'вам надо было сразу позвонить нам, а не ждать неделю', True),
    ('ru', 'blame', 'вам должны были сообщить об этом смс', False),
    # plan precision: reading out a number, vague conditional
    ('ru', 'plan', 'так, номер обращения пятьсот двенадцать', False),
    ('ru', 'plan', 'если что-то понадобится, мы вам перезвоним', False),
    ('ru', 'plan', 'я оформлю обращение, номер заявки пришлю смс', True),
    ('ru', 'plan', 'я уточню у мастера и перезвоню вам', True),
]

CLASS_CASES_3 += [
    # churn without "cancel": never again, not renewing, going elsewhere
    ('bg', 'churn_threat', 'повече никога няма да пътувам с вашия превозвач', True),
    ('bg', 'churn_threat', 'няма да подновя договора, ще си взема интернет от друга фирма', True),
    ('bg', 'churn_threat', 'колата ще я обслужвам в друг сервиз', True),
    ('bg', 'churn_threat', 'отивам другаде, писна ми', True),
    ('bg', 'churn_threat', 'кога трябва да подновя застраховката', False),
    ('bg', 'churn_threat', 'никога не съм летял с тази авиокомпания', False),
    # manager: someone more senior or competent
    ('bg', 'manager_request', 'има ли при вас някой по-опитен', True),
    ('bg', 'manager_request', 'дайте ми някой който знае какво прави', True),
    # abuse: adjective first; swearing at a device is not abuse
    ('bg', 'abuse', 'напълно безполезни сте', True),
    ('bg', 'abuse', 'тоя рутер пак мига, да го вземат дяволите', False),
    # calm down repeated
    ('bg', 'calm_down', 'спокойно, спокойно, ще намерим решение', True),
    # deflect
    ('bg', 'deflect', 'не е наша грешката, банката я е бавила', True),
    ('bg', 'deflect', 'това не е точно наш отдел', True),
    # blame
    ('bg', 'blame', 'трябваше навреме да съобщите за повредата', True),
    ('bg', 'blame', 'вие сами сте избрали грешния адрес', True),
    ('bg', 'blame', 'трябваше да получите смс', False),
    # repeat contact in writing; a call back after a dropped line is not
    ('bg', 'repeat_contact', 'пратих ви два имейла и нищо', True),
    ('bg', 'repeat_contact', 'нула реакция от ваша страна', True),
    ('bg', 'repeat_contact', 'разговорът прекъсна, затова отново ви звъня', False),
    # plan precision
    ('bg', 'plan', 'така, номерът на случая е пет шест седем', False),
    ('bg', 'plan', 'няма проблем, ще го направим', False),
    ('bg', 'plan', 'ако ни трябва още нещо, ще ви се обадим', False),
    ('bg', 'plan', 'ще ви се обадя утре следобед с отговор', True),
    ('bg', 'plan', 'ще проверя в сервиза и ще ви се обадя', True),
    ('bg', 'plan', 'разбира се, ще ви се обадя в петък', True),
    ('bg', 'plan', 'ще направим корекцията още днес', True),
    ('bg', 'plan', 'добре, ще го направим', False),
]

CLASS_CASES_3 += [
    # churn without "reziliez": never again, not renewing, going elsewhere
    ('ro', 'churn_threat', 'nu mai calatoresc niciodata cu voi', True),
    ('ro', 'churn_threat', 'nu o sa mai prelungesc abonamentul, il iau de la alt operator', True),
    ('ro', 'churn_threat', 'masina o duc la alt service de acum', True),
    ('ro', 'churn_threat', 'comand in alta parte, m-am saturat', True),
    ('ro', 'churn_threat', 'nu am mai calatorit de mult', False),
    ('ro', 'churn_threat', 'cum prelungesc polita online', False),
    # manager: someone competent
    ('ro', 'manager_request', 'dati-mi pe cineva care chiar se pricepe', True),
    ('ro', 'manager_request', 'transferati-ma la un coleg mai experimentat', True),
    # abuse: swearing at a device is not abuse
    ('ro', 'abuse', 'la naiba cu imprimanta asta', False),
    ('ro', 'abuse', 'la naiba, sunteti niste idioti cu totii', True),
    # repeat contact in writing; a call back after a dropped line is not
    ('ro', 'repeat_contact', 'am trimis doua reclamatii si nimic', True),
    ('ro', 'repeat_contact', 'nimeni nu mi-a raspuns la mesaje', True),
    ('ro', 'repeat_contact', 'mi s-a inchis apelul si am sunat din nou', False),
    # paraphrase with "adica"
    ('ro', 'paraphrase', 'adică pachetul a ajuns deteriorat', True),
    ('ro', 'paraphrase', 'nu știu ce adică', False),
    # plan precision
    ('ro', 'plan', 'deci numarul dosarului este trei sute doi', False),
    ('ro', 'plan', 'daca avem nevoie de ceva in plus, va contactam noi', False),
    ('ro', 'plan', 'va sun inapoi maine dimineata', True),
    ('ro', 'plan', 'verific cu colegii si va sun inapoi', True),
]


@pytest.mark.parametrize("lang, category, text, should_fire", CLASS_CASES_3)
def test_phrasing_classes_of_the_third_blind_set(lang, category, text, should_fire):
    found = category in cats(lang, text, CATEGORIES[category])
    assert found == should_fire, text


# Issue 12: greetings, asking for a number and a bare "listen" were credited (or flagged)
# in every language; each case here fired wrongly before the fix (or is its positive twin,
# which must keep firing).
PHRASE_FIXES = [
    # a greeting is not empathy
    ('en', 'empathy', 'Thank you for calling us today, how may I help', False),
    ('en', 'empathy', 'thanks for contacting us, you are through to Sam', False),
    ('en', 'empathy', 'thank you for your call, my name is Priya', False),
    ('en', 'empathy', 'thanks a lot for getting in touch with us', False),
    ('en', 'empathy', 'thanks so much for your patience, I have the details now', True),
    ('ru', 'empathy', 'спасибо что позвонили в нашу службу, меня зовут Ирина', False),
    ('ru', 'empathy', 'благодарю за звонок, чем могу быть полезна', False),
    ('ru', 'empathy', 'спасибо за обращение, слушаю вас', False),
    ('ru', 'empathy', 'спасибо вам за терпение, я уже проверяю', True),
    ('bg', 'empathy', 'благодаря ви, че се обадихте, казвам се Мария', False),
    ('bg', 'empathy', 'благодаря за обаждането, с какво да ви помогна', False),
    ('bg', 'empathy', 'благодаря ви за търпението докато проверя', True),
    ('ro', 'empathy', 'va multumim ca ati sunat, numele meu este Andrei', False),
    ('ro', 'empathy', 'multumesc pentru apel, cu ce va pot ajuta azi', False),
    ('ro', 'empathy', 'va multumim ca ne-ati contactat astazi', False),
    ('ro', 'empathy', 'va multumesc pentru rabdare cat am verificat', True),
    # asking for an order or reference number is not a plan; giving one is
    ('en', 'plan', 'what is the reference number for your booking please', False),
    ('en', 'plan', 'could you read me the tracking number for the parcel', False),
    ('en', 'plan', 'can you tell me what your case number is', False),
    ('en', 'plan', 'I have logged it and your reference number is four four seven', True),
    ('ru', 'plan', 'подскажите, пожалуйста, номер обращения', False),
    ('ru', 'plan', 'скажите мне номер заявки с письма', False),
    ('ru', 'plan', 'какой номер заявки вам прислали', False),
    ('ru', 'plan', 'заявка создана, номер заявки сорок два', True),
    ('bg', 'plan', 'кажете ми номера на поръчката, моля', False),
    ('bg', 'plan', 'имате ли номера на заявката под ръка', False),
    ('bg', 'plan', 'ще ви изпратя номера на заявката с есемес', True),
    ('ro', 'plan', 'imi puteti da numarul comenzii va rog', False),
    ('ro', 'plan', 'puteti sa-mi spuneti numarul de inregistrare', False),
    ('ro', 'plan', 'va trimit numarul de inregistrare prin mesaj', True),
    # "listen" alone is not blame
    ('en', 'blame', 'I am here to listen', False),
    ('en', 'blame', 'listen, I can sort that out for you right now', False),
    ('en', 'blame', 'please listen to the options before choosing', False),
    ('en', 'blame', 'listen to me, you typed the address yourself', True),
    ('ru', 'blame', 'я здесь, чтобы вас выслушать', False),
    ('bg', 'blame', 'тук съм, за да ви изслушам', False),
    ('ro', 'blame', 'sunt aici sa va ascult', False),
]


@pytest.mark.parametrize("lang, category, text, should_fire", PHRASE_FIXES)
def test_greetings_number_requests_and_listening_are_not_credited_or_blamed(
        lang, category, text, should_fire):
    found = category in cats(lang, text, CATEGORIES[category])
    assert found == should_fire, text


# --- the evaluation sets stay out of the unit tests --------------------------------------


def test_no_unit_test_sentence_is_a_holdout_line():
    """The holdout gives the only generalisation figure, so no unit-test sentence may be
    one of its lines, compared folded (case, punctuation, diacritics): a copy that
    differs only in an accent or a full stop is caught too.  The development sets were
    tuned on anyway (their figures are upper bounds), so sharing a short phrase such as
    "I don't know" with them is allowed."""
    holdout = ROOT / "benchmarks" / "data" / "triggers" / "holdout.jsonl"
    assert holdout in EVAL_SETS
    evaluation = {fold_phrase(json.loads(line)["text"])
                  for line in holdout.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert len(evaluation) > 300
    used = {text for _, _, text in POSITIVE_CASES} | {c[2] for c in NEAR_CASES}
    used |= {t for cases in NEGATED.values() for t, _ in cases}
    for cases in (CLASS_CASES, CLASS_CASES_2, CLASS_CASES_3, PHRASE_FIXES):
        used |= {case[2] for case in cases}
    clashes = sorted(t for t in used if fold_phrase(t) in evaluation)
    assert not clashes
