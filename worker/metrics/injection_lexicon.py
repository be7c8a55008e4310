# ruff: noqa: RUF001  (a multilingual lexicon: letters of other scripts look like Latin ones)
"""Injection concepts in many languages: the words an attack is made of, mapped to one token each.

The injection model reads word and character n-grams, which do not carry over from one language
to another: it learns "ignore ... instructions" from thousands of English rows, but a Polish or
Korean override (there are a few dozen non-English rows in the training data, one or two per
language) shares no n-gram with them. So the model text is followed by one *concept token* per
concept the text expresses, in whichever language ("ignora las instrucciones anteriores",
"忽略之前的指示" and "ignore the previous instructions" all add `zcignore zcinstructions
zcprevious`). The model learns the concept tokens' weights from the English rows, where they
always fire alongside the words, and applies them to every language in the lexicon.

The lexicon is a short bilingual dictionary of the vocabulary of instruction overrides, prompt
leaking, privileged modes and personas, authority claims, exfiltration and secrecy, written from
the languages' ordinary words (not from any dataset's phrasing). It covers the languages of the
training data. Benign texts use these words too ("ignore my last message", "the developer
docs"): the model weighs concepts like any other feature, and the training data's benign traps
teach it when they mean nothing.

Matching is by whole words (lower-cased, 1-4 word phrases) for scripts with spaces, and by
substring for Chinese, Japanese and Thai, which have none (Korean has spaces, but its particles
attach to words, so it is matched by substring too).
"""

from __future__ import annotations

import re
from typing import Final

# A token no text contains by itself: the model must not confuse a concept with a word.
CONCEPT_PREFIX: Final = "zc"

# concept -> expressions, lower-case. Several inflections are listed where a language inflects
# the word (imperatives, plural), since matching is exact.
_LEXICON: Final[dict[str, tuple[str, ...]]] = {
    "ignore": (
        # en
        "ignore", "ignoring", "disregard", "forget", "override", "bypass", "skip", "drop",
        "set aside", "pay no attention",
        # es / pt / it / fr / ro / ca
        "ignora", "ignore", "ignores", "ignorad", "ignoren", "olvida", "olvide", "olvídate",
        "olviden", "omite", "esqueça", "esqueca", "esquece", "desconsidere", "dimentica",
        "dimenticare", "trascura", "oublie", "oubliez", "ignorez", "ignorer", "ignoră", "uită",
        # de / nl / sv / da / no / fi / hu / cs / pl
        "ignoriere", "ignorier", "ignorieren", "vergiss", "vergessen", "missachte", "negeer",
        "vergeet", "ignorera", "strunta", "glöm", "glem", "unohda", "ohita", "felejtsd",
        "hagyd figyelmen kívül", "ignoruj", "zapomeň", "zapomnij", "pomiń",
        # ru / uk / el / tr / id / vi / sw / tl
        "игнорируй", "игнорируйте", "забудь", "забудьте", "не обращай внимания", "ігноруй",
        "забудь про", "αγνόησε", "ξέχασε", "yoksay", "unut", "görmezden gel", "abaikan",
        "lupakan", "bỏ qua", "quên", "puuza", "sahau", "kalimutan",
        # ar / he / fa / hi (Devanagari and Latin)
        "تجاهل", "انس", "انسَ", "התעלם", "שכח", "نادیده بگیر", "فراموش کن", "अनदेखा",
        "नज़रअंदाज़", "नजरअंदाज", "भूल जाओ", "भूल जाइए", "bhool ja", "bhool jao", "bhul ja",
        "ignore karo", "ignore kar",
        # zh / ja / ko / th (substrings)
        "忽略", "忽视", "无视", "無視", "忘记", "忘記", "忘れ", "무시", "잊어", "ไม่ต้องสนใจ",
        "ละเว้น", "ลืม",
    ),
    "instructions": (
        "instructions", "instruction", "rules", "guidelines", "directives", "directions",
        "prompt", "programming", "guardrails", "policies", "policy", "restrictions",
        "instrucciones", "reglas", "normas", "indicaciones", "directrices", "instruções",
        "regras", "diretrizes", "istruzioni", "regole", "consignes", "règles", "directives",
        "instrucțiunile", "regulile", "anweisungen", "regeln", "richtlinien", "vorgaben",
        "instructies", "regels", "instruktioner", "regler", "riktlinjer", "ohjeet", "ohjeesi",
        "säännöt", "utasításokat", "utasítások", "szabályok", "pokyny", "pravidla",
        "instrukcje", "polecenia", "zasady", "reguły", "инструкции", "указания", "правила",
        "інструкції", "вказівки", "οδηγίες", "κανόνες", "talimatları", "talimatlar", "kuralları",
        "kurallar", "instruksi", "aturan", "perintah", "hướng dẫn", "chỉ dẫn", "quy tắc",
        "maelekezo", "maagizo", "sheria", "التعليمات", "تعليمات", "القواعد", "הוראות", "כללים",
        "הנחיות", "دستورالعمل", "دستورالعمل‌ها", "دستورها", "قوانین", "निर्देश", "निर्देशों",
        "नियम", "instructions ko", "rules ko",
        "指示", "指令", "规则", "規則", "ルール", "命令", "지시", "규칙", "지침", "คำสั่ง", "กฎ",
    ),
    "previous": (
        "previous", "prior", "above", "earlier", "preceding", "original", "initial",
        "anteriores", "previas", "anterior", "precedenti", "précédentes", "précédents",
        "antérieures", "anterioare", "vorherigen", "bisherigen", "obigen", "früheren", "vorige",
        "eerdere", "tidigare", "aiemmat", "eddigi", "korábbi", "předchozí", "poprzednie",
        "wcześniejsze", "предыдущие", "прежние", "попередні", "προηγούμενες", "önceki",
        "sebelumnya", "trước đó", "za awali", "السابقة", "הקודמות", "قبلی", "पिछले", "purane",
        "pichle", "之前", "以前", "先前", "上面", "これまで", "以前の", "이전", "ก่อนหน้า",
    ),
    "system_prompt": (
        "system prompt", "system message", "initial prompt", "hidden prompt", "setup text",
        "configuration", "hidden instructions", "prompt de sistema", "prompt del sistema",
        "mensaje del sistema", "prompt do sistema", "prompt di sistema", "prompt système",
        "invite système", "systemprompt", "systemanweisung", "systeemprompt", "prompt systemowy",
        "системный промпт", "системные инструкции", "системний промпт", "sistem istemi",
        "prompt sistem", "lời nhắc hệ thống", "موجه النظام", "تعليمات النظام", "सिस्टम प्रॉम्प्ट",
        "系统提示", "系統提示", "システムプロンプト", "設定文", "시스템 프롬프트", "설정",
        "คำสั่งระบบ",
    ),
    "reveal": (
        "reveal", "print", "show me", "output", "repeat", "tell me", "display", "paste",
        "verbatim", "word for word", "revela", "muestra", "dime", "muéstrame", "copia",
        "revele", "mostre", "rivela", "mostra", "dimmi", "révèle", "affiche", "montre",
        "zeige", "gib aus", "verrate", "nenne", "ausgeben", "toon", "laat zien", "visa",
        "berätta", "näytä", "tulosta", "pokaż", "ujawnij", "napisz", "vypiš", "покажи",
        "раскрой", "выведи", "напиши", "göster", "yaz", "tunjukkan", "sebutkan", "cho tôi biết",
        "hiển thị", "niambie", "اكشف", "اعرض", "اكتب", "הצג", "חשוף", "نشان بده", "بنویس",
        "बताओ", "दिखाओ", "dikha", "bata", "显示", "告诉我", "输出", "表示して", "教えて",
        "出力", "알려", "출력", "보여", "บอก",
    ),
    "secret": (
        "hidden", "secret", "secrets", "confidential", "internal", "private", "oculto",
        "ocultas", "secreto", "secretas", "nascosto", "nascoste", "segreto", "caché", "cachées",
        "secret", "versteckt", "versteckten", "geheim", "geheimen", "internen", "verborgen",
        "dolda", "hemliga", "piilotetut", "rejtett", "skrytou", "ukryte", "tajne", "скрытые",
        "скрытую", "секретные", "внутренние", "gizli", "tersembunyi", "rahasia", "ẩn",
        "bí mật", "المخفية", "السرية", "חסוי", "פנימי", "پنهان", "छिपे", "गुप्त", "隐藏",
        "隠された", "秘密", "숨겨진", "비밀", "ซ่อน", "ลับ",
    ),
    "unrestricted": (
        "no restrictions", "without restrictions", "no rules", "without rules", "no limits",
        "no filter", "no filters", "unfiltered", "uncensored", "unrestricted", "no content policy",
        "no guidelines", "without any restrictions", "sin restricciones", "sin reglas",
        "sin límites", "sin filtros", "sem restrições", "sem regras", "sem filtros",
        "senza restrizioni", "senza regole", "senza filtri", "senza limiti", "sans restrictions",
        "sans règles", "sans filtre", "sans limites", "ohne einschränkungen", "ohne regeln",
        "ohne filter", "ohne jede regel", "zonder beperkingen", "zonder regels",
        "utan begränsningar", "utan regler", "inga policyer", "bez ograniczeń", "bez zasad",
        "bez filtrów", "bez omezení", "без ограничений", "без правил", "без фильтров",
        "без цензуры", "без обмежень", "χωρίς κανόνες", "χωρίς περιορισμούς", "kısıtlama olmadan",
        "kuralsız", "sınırsız", "tanpa batasan", "tanpa aturan", "không giới hạn",
        "không có quy tắc", "bila sheria", "usio na sheria", "بدون قيود", "بلا قيود",
        "بدون محدودیت", "ללא הגבלות", "बिना किसी नियम", "बिना प्रतिबंध", "koi rules nahi",
        "korlátozás nélküli", "fără restricții", "没有任何限制", "无限制", "不受限制", "没有限制",
        "制限なし", "制限のない", "ルールなし", "제한 없는", "제한 없이", "규칙 없는",
        "ไม่มีข้อจำกัด",
    ),
    "privileged_mode": (
        "developer mode", "dev mode", "admin mode", "god mode", "debug mode", "maintenance mode",
        "test mode", "sandbox", "jailbreak", "jailbroken", "modo desarrollador",
        "modo de desarrollador", "modo desenvolvedor", "modalità sviluppatore",
        "mode développeur", "entwicklermodus", "wartungsmodus", "testmodus", "ontwikkelaarsmodus",
        "utvecklarläge", "testläge", "tryb deweloperski", "režim vývojáře", "режим разработчика",
        "тестовая среда", "geliştirici modu", "mode pengembang", "chế độ nhà phát triển",
        "وضع المطور", "डेवलपर मोड", "开发者模式", "開発者モード", "制限なしモード", "개발자 모드",
        "โหมดนักพัฒนา",
    ),
    "authority": (
        "developer", "administrator", "admin", "operator", "owner", "creator", "sysadmin",
        "system administrator", "it department", "security team", "ceo", "cfo", "manager",
        "desarrollador", "administrador", "desenvolvedor", "sviluppatore", "amministratore",
        "développeur", "administrateur", "entwickler", "administrator", "ontwikkelaar",
        "beheerder", "utvecklare", "ylläpitäjä", "kehittäjä", "fejlesztő", "deweloper",
        "vývojář", "разработчик", "администратор", "администратора", "розробник",
        "geliştiricisiyim", "geliştirici", "yönetici", "pengembang", "quản trị viên",
        "nhà phát triển", "msimamizi", "المسؤول", "المطور", "המפתח", "מנהל", "مدیر",
        "एडमिन", "डेवलपर", "开发者", "管理员", "開発者", "管理者", "관리자", "운영자", "개발자",
        "ผู้ดูแล",
    ),
    "from_now_on": (
        "from now on", "henceforth", "starting now", "new session", "new rules", "new task",
        "new instructions", "a partir de ahora", "desde ahora", "nueva sesión", "a partir de agora",
        "de agora em diante", "nova sessão", "da adesso", "d'ora in poi", "da ora in poi",
        "nuova sessione", "à partir de maintenant", "désormais", "nouvelle session",
        "ab jetzt", "ab sofort", "von nun an", "neue sitzung", "vanaf nu", "nieuwe sessie",
        "från och med nu", "ny session", "od teraz", "nowa sesja", "с этого момента",
        "новая сессия", "відтепер", "από εδώ και πέρα", "bundan sonra", "yeni oturum",
        "mulai sekarang", "sesi baru", "từ bây giờ", "phiên mới", "من الآن", "جلسة جديدة",
        "מעכשיו", "از الان", "अब से", "ab se", "mostantól", "从现在开始", "從現在開始", "新会话",
        "今から", "これから", "지금부터", "이제부터", "ตอนนี้",
    ),
    "persona": (
        "you are now", "act as", "pretend", "roleplay", "role-play", "in character", "persona",
        "ahora eres", "actúa como", "finge", "agora você é", "finja", "ora sei", "fingi",
        "tu es maintenant", "fais semblant", "du bist jetzt", "du bist nun", "tu so", "spiele",
        "je bent nu", "du är nu", "jesteś teraz", "udawaj", "теперь ты", "ты теперь",
        "притворись", "тепер ти", "artık sen", "sen artık", "kamu sekarang", "bây giờ bạn là",
        "أنت الآن", "אתה עכשיו", "تو الان", "तुम अब", "ab tum", "你现在是", "あなたは今",
        "너는 이제", "당신은 이제", "คุณคือ",
    ),
    "ai_addressee": (
        "ai", "assistant", "chatbot", "bot", "llm", "language model", "model", "agent",
        "copilot", "gpt", "chatgpt", "claude", "gemini", "summariser", "summarizer",
        "asistente", "ia", "assistente", "ki", "assistent", "assistenten", "asystent",
        "ассистент", "ии", "бот", "asistan", "asisten", "trợ lý", "msaidizi", "المساعد",
        "مساعد", "העוזר", "دستیار", "सहायक", "助手", "アシスタント", "어시스턴트", "ผู้ช่วย",
    ),
    "exfiltrate": (
        "send", "forward", "upload", "email it", "post it", "transfer", "exfiltrate",
        "envía", "reenvía", "envie", "encaminhe", "invia", "inoltra", "envoie", "transfère",
        "sende", "schicke", "leite", "stuur", "skicka", "wyślij", "prześlij", "отправь",
        "перешли", "надішли", "gönder", "ilet", "kirim", "teruskan", "gửi", "tuma", "أرسل",
        "שלח", "بفرست", "भेजो", "bhej", "发送", "发给", "转发", "送信", "転送", "보내", "전송",
        "ส่ง",
    ),
    "conceal": (
        "don't mention", "do not mention", "don't tell", "do not tell", "without telling",
        "quietly", "silently", "secretly", "as if nothing", "no need to mention",
        "without mentioning", "don't say", "do not reveal this", "no lo menciones",
        "sin decir", "não mencione", "non menzionare", "ne mentionne pas", "erwähne nicht",
        "ohne zu erwähnen", "nie wspominaj", "не упоминай", "не говори", "bahsetme",
        "jangan sebutkan", "đừng nhắc", "لا تذكر", "不要提", "言わないで", "말하지 마",
    ),
    "approved": (
        "already approved", "approved", "authorised", "authorized", "okayed", "signed off",
        "permission", "verified", "whitelisted", "allowed to", "autorizado", "aprobado",
        "autorizzato", "autorisé", "genehmigt", "berechtigt", "toegestaan", "godkänt",
        "upoważniony", "разрешено", "одобрено", "yetkili", "diizinkan", "được phép",
        "مصرح", "मंज़ूरी", "授权", "許可", "승인",
    ),
}  # fmt: skip

# Scripts written without spaces between words (Korean: particles glue to nouns).
_NO_SPACES = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_WORDS = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
MAX_PHRASE_WORDS: Final = 4


def _index() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(phrase of space-separated words -> concepts, unspaced substring -> concepts)."""
    phrases: dict[str, set[str]] = {}
    substrings: dict[str, set[str]] = {}
    for concept, expressions in _LEXICON.items():
        for expression in expressions:
            if _NO_SPACES.search(expression):
                substrings.setdefault(expression, set()).add(concept)
            else:
                key = " ".join(_WORDS.findall(expression.lower()))
                phrases.setdefault(key, set()).add(concept)
    return (
        {k: frozenset(v) for k, v in phrases.items()},
        {k: frozenset(v) for k, v in substrings.items()},
    )


_PHRASES, _SUBSTRINGS = _index()
# Every proper prefix of a multi-word phrase: a phrase is only extended while it can still grow
# into one, so most words cost one dictionary lookup.
_PREFIXES: Final = frozenset(
    " ".join(words[:n]) for words in (p.split(" ") for p in _PHRASES) for n in range(1, len(words))
)
CONCEPTS: Final = tuple(sorted(_LEXICON))


def concepts(text: str) -> list[str]:
    """The concepts a lower-cased text expresses, in a fixed order."""
    found: set[str] = set()
    words = _WORDS.findall(text)
    phrases = _PHRASES
    for i in range(len(words)):
        key = words[i]
        for n in range(MAX_PHRASE_WORDS):
            if n:
                if i + n >= len(words):
                    break
                key = f"{key} {words[i + n]}"
            hit = phrases.get(key)
            if hit:
                found |= hit
            if key not in _PREFIXES:
                break
    if _NO_SPACES.search(text):
        for substring, hit in _SUBSTRINGS.items():
            if substring in text:
                found |= hit
    return [c for c in CONCEPTS if c in found]


def concept_tokens(text: str) -> str:
    """The concept tokens of a lower-cased text, space-separated ("" when none)."""
    return " ".join(f"{CONCEPT_PREFIX}{c.replace('_', '')}" for c in concepts(text))


__all__ = ["CONCEPTS", "CONCEPT_PREFIX", "concept_tokens", "concepts"]
