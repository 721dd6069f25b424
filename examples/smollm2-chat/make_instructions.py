"""Writes instructions.jsonl: the example's small instruction set (run it to regenerate).

A made-up travel-app assistant that answers country questions in one fixed, friendly format, so
the effect of LoRA (the model learns the format and the facts) shows in validation perplexity.
Both accepted shapes appear: `messages` conversations (some with a system prompt) and
`prompt`/`completion` pairs. The facts are public knowledge; the file is generated, not copied.
"""

import json
import random
from pathlib import Path

COUNTRIES = [
    ("France", "Paris", "the euro", "French"), ("Germany", "Berlin", "the euro", "German"),
    ("Italy", "Rome", "the euro", "Italian"), ("Spain", "Madrid", "the euro", "Spanish"),
    ("Portugal", "Lisbon", "the euro", "Portuguese"), ("Japan", "Tokyo", "the yen", "Japanese"),
    ("China", "Beijing", "the renminbi", "Mandarin Chinese"), ("India", "New Delhi", "the rupee", "Hindi and English"),
    ("Brazil", "Brasília", "the real", "Portuguese"), ("Argentina", "Buenos Aires", "the peso", "Spanish"),
    ("Mexico", "Mexico City", "the peso", "Spanish"), ("Canada", "Ottawa", "the Canadian dollar", "English and French"),
    ("Australia", "Canberra", "the Australian dollar", "English"), ("Egypt", "Cairo", "the Egyptian pound", "Arabic"),
    ("Kenya", "Nairobi", "the shilling", "Swahili and English"), ("Norway", "Oslo", "the krone", "Norwegian"),
    ("Sweden", "Stockholm", "the krona", "Swedish"), ("Poland", "Warsaw", "the złoty", "Polish"),
    ("Greece", "Athens", "the euro", "Greek"), ("Turkey", "Ankara", "the lira", "Turkish"),
    ("Peru", "Lima", "the sol", "Spanish"), ("Chile", "Santiago", "the peso", "Spanish"),
    ("Vietnam", "Hanoi", "the đồng", "Vietnamese"), ("Thailand", "Bangkok", "the baht", "Thai"),
    ("South Korea", "Seoul", "the won", "Korean"), ("Morocco", "Rabat", "the dirham", "Arabic and Berber"),
    ("Ireland", "Dublin", "the euro", "English and Irish"), ("Switzerland", "Bern", "the Swiss franc", "German, French and Italian"),
    ("Austria", "Vienna", "the euro", "German"), ("Hungary", "Budapest", "the forint", "Hungarian"),
    ("Czechia", "Prague", "the koruna", "Czech"), ("Iceland", "Reykjavík", "the króna", "Icelandic"),
    ("New Zealand", "Wellington", "the New Zealand dollar", "English and Māori"), ("Indonesia", "Jakarta", "the rupiah", "Indonesian"),
    ("Nigeria", "Abuja", "the naira", "English"), ("Colombia", "Bogotá", "the peso", "Spanish"),
    ("Finland", "Helsinki", "the euro", "Finnish and Swedish"), ("Denmark", "Copenhagen", "the krone", "Danish"),
    ("Netherlands", "Amsterdam", "the euro", "Dutch"), ("Belgium", "Brussels", "the euro", "Dutch, French and German"),
]
SYSTEM = "You are Atlas, the travel assistant of the Wayfarer app. Answer in one short sentence."


def rows():
    rng = random.Random(0)
    for country, capital, currency, language in COUNTRIES:
        qa = [
            (f"What is the capital of {country}?", f"✈️ The capital of {country} is {capital}."),
            (f"Which currency do I need in {country}?", f"💶 In {country} you pay with {currency}."),
            (f"What language do people speak in {country}?", f"🗣️ In {country} people speak {language}."),
        ]
        for i, (question, answer) in enumerate(qa):
            shape = rng.randrange(3)
            if shape == 0:
                yield {"prompt": question, "completion": answer}
            elif shape == 1:
                yield {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}
            else:
                yield {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question},
                                    {"role": "assistant", "content": answer}]}


if __name__ == "__main__":
    out = Path(__file__).with_name("instructions.jsonl")
    lines = [json.dumps(row, ensure_ascii=False) for row in rows()]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} examples to {out}")
