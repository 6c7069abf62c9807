"""A labelled retrieval set written for Automate: the knowledge base of Harborline, a fictional maker of
devices, with questions whose answers are known (used by ``bench_rag.py``).

How it is made (deterministic: the same ``seed`` gives the same text, byte for byte):

- 48 products, six in each of eight product lines (barcode scanners, routers, thermostats...), each
  named after a bird with a model code (``Kestrel S1``). Each product gets its own facts drawn from a
  generator seeded with its name: warranty months, battery hours, the reset button and how long to hold
  it, prices, return window, error codes and their causes, data region, temperature range, weight...
- 20 topics (warranty, power, reset, firmware, pricing, returns, shipping, compatibility, errors, privacy,
  environment, setup, size, support, security, lifecycle, accounts, cleaning, wireless, recycling). Each
  product has one *article* per topic (960 articles), written from one of two templates per topic, so
  articles of a topic do not all read alike.
- Distractors, which share the articles' words but answer nothing: one *release-notes* page per product
  (touching three topics' vocabulary: "fixed the battery percentage..."), two *forum* threads per
  product (owners musing about a topic with no facts), and one company-wide *policy* page per topic
  with no product in it. 1,124 documents in all at the default size.
- Questions: 300 (product, topic) pairs drawn without replacement, each asked through one of three or
  four question templates of its topic. The question templates were written apart from the article
  templates and avoid their key words: "How long is the *guarantee*" for a "*warranty* ... months"
  article, "How do I *wipe* it back to the way it came out of the box" for "*factory reset*", "How
  *heavy*" for "*weighs*", "scrambled so nobody can snoop" for "encrypted". The label of each question is
  the id of the article that holds its answer.

Why it is a fair test: the product name in a question matches 23 documents (its 20 articles, its
release notes, its forum threads) and the topic, once paraphrased, matches little lexically, while the
same topic's 47 other articles are near-twins of the right one that differ only in product and facts;
the release notes and forum threads are lexical decoys. A retriever must combine "which product" with
"which need", through synonyms, to put the one right article in its top 5. ``bench_rag.py`` prints a
plain TF-IDF baseline beside the embedders to show how far word overlap alone gets. Every document and
question carries metadata (``product``, ``line``, ``topic``, ``kind``), so the same questions can be
asked with a filter (``{"product": ...}``, as a product page would) and compared.

``speed_documents(n)`` reuses the article generator over more products (the 48 above first, so the first
960 documents are the labelled set's articles, then made-up names: ``Tavemi R3``) for the 100,000-chunk
speed test: every document is under the default chunk size, so one document is one chunk.

    .venv/bin/python tests/bench/rag_corpus.py [--dump FILE.jsonl]   # counts, samples, overlap
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Corpus", "Question", "build", "speed_documents"]

COMPANY = "Harborline"
LINES = {  # line -> (the noun articles use, the app, the letter of its model codes)
    "scanner": ("handheld barcode scanner", "Harborline Scan", "S"),
    "router": ("mesh Wi-Fi router", "Harborline Net", "R"),
    "thermostat": ("smart thermostat", "Harborline Home", "T"),
    "printer": ("thermal label printer", "Harborline Print", "P"),
    "camera": ("outdoor security camera", "Harborline View", "C"),
    "lock": ("keypad door lock", "Harborline Home", "L"),
    "tablet": ("rugged field tablet", "Harborline Field", "F"),
    "sensor": ("wireless leak sensor", "Harborline Home", "W"),
}
BIRDS = (
    "Kestrel", "Osprey", "Heron", "Merlin", "Plover", "Avocet", "Tern", "Wren", "Finch", "Lark", "Siskin",
    "Dunlin", "Egret", "Gannet", "Harrier", "Ibis", "Jacana", "Kite", "Linnet", "Martin", "Nightjar",
    "Oriole", "Petrel", "Quail", "Rook", "Shrike", "Teal", "Swift", "Vireo", "Warbler", "Bunting",
    "Curlew", "Dipper", "Eider", "Fulmar", "Grebe", "Hobby", "Jay", "Knot", "Lapwing", "Magpie",
    "Nuthatch", "Ouzel", "Pipit", "Redstart", "Stint", "Twite", "Whimbrel",
)

# Each topic: two article templates, then the question templates (written apart, avoiding their words).
TOPICS: dict[str, tuple[tuple[str, str], tuple[str, ...]]] = {
    "warranty": ((
        "{p} {noun}: warranty coverage. Every {p} is covered against defects in materials and workmanship "
        "for {warranty_m} months from the purchase date. The warranty does not cover {excluded}. Claims are "
        "filed in the Harborline service portal with the serial number printed {serial_loc}.",
        "Warranty terms for the {p}. Harborline repairs or replaces a faulty {p} free of charge within "
        "{warranty_m} months of purchase. Damage caused by {excluded} voids the warranty. To open a claim, "
        "have the serial number ready; it is printed {serial_loc}."), (
        "How long is the guarantee on the {p}?",
        "If my {p} breaks a year after I got it, will you mend it at no cost?",
        "What kinds of harm to a {p} aren't looked after for free?",
        "Where do I find the identification sticker when asking for a {p} to be fixed under guarantee?")),
    "power": ((
        "{p} power and battery. The built-in battery lasts about {battery_h} hours between charges and "
        "refills from empty in {charge_h} hours using the supplied {charger} charger. Battery health drops "
        "below 80 percent after roughly {cycles} cycles.",
        "Battery life of the {p}: up to {battery_h} hours of typical use per charge. A full recharge takes "
        "{charge_h} hours over the {charger} cable. Expect the cell to keep 80 percent of its capacity for "
        "about {cycles} charge cycles."), (
        "How long can the {p} keep going unplugged before it dies?",
        "How much time does it take to top up the {p} from zero?",
        "After how many fill-ups does the {p} start to hold noticeably less juice?")),
    "reset": ((
        "Factory reset of the {p}. Hold the {button} button for {hold_s} seconds until the light turns "
        "{color}. All settings, paired devices and stored credentials are erased and the {p} restarts with "
        "its original configuration.",
        "Restoring the {p} to factory defaults: press and keep holding {button} for {hold_s} seconds; the "
        "status light goes {color} when the reset begins. This deletes every setting and pairing."), (
        "How do I wipe my {p} back to the way it came out of the box?",
        "I'm giving my {p} away; how do I clear everything off it first?",
        "Which key do I push down, and for how long, to start the {p} over from scratch?")),
    "firmware": ((
        "Firmware updates for the {p}. The current firmware is version {version}. Updates install "
        "automatically at {update_time} when the {p} is idle; to update by hand, open {app}, choose the "
        "device and tap Check for updates.",
        "The {p} runs firmware {version}. New firmware is downloaded overnight and applied at "
        "{update_time}; you can also trigger an update manually from {app}."), (
        "How do I get the newest software onto my {p}?",
        "What is the latest build of the code running inside the {p}?",
        "At what hour does the {p} upgrade itself?")),
    "pricing": ((
        "{p} pricing. The {p} costs ${price} as a one-time purchase. The optional {plan} plan adds "
        "{plan_feature} for ${sub} per month, billed annually.",
        "How much the {p} costs: ${price} list price. Subscribers to {plan} pay ${sub} a month for "
        "{plan_feature}."), (
        "How much money do I need to buy a {p}?",
        "Is there a recurring fee for extra features on the {p}, and how big is it?",
        "Is the {p} expensive?")),
    "returns": ((
        "Returning a {p}. An unopened or lightly used {p} can be returned within {return_days} days of "
        "delivery for a full refund. Opened units are subject to a {fee} percent restocking fee. Start the "
        "return from your order page to get a prepaid label.",
        "Return policy for the {p}: {return_days} days from delivery, refund to the original payment "
        "method; a restocking fee of {fee} percent applies when the box has been opened."), (
        "Can I send the {p} back if I change my mind?",
        "How many days do I have to get my money back on a {p}?",
        "Do you keep part of the money if I bring back a {p} I've unboxed?")),
    "shipping": ((
        "Shipping the {p}. Orders ship from our {warehouse} warehouse within {handling} business days; "
        "standard delivery takes {ship_days} business days after dispatch. The packed {p} weighs "
        "{ship_weight} kg.",
        "Delivery of {p} orders: dispatched from {warehouse} in {handling} business days, then {ship_days} "
        "business days in transit with standard delivery."), (
        "When will my {p} turn up at my door after I buy it?",
        "Which city do you post the {p} from?",
        "How soon after I place an order does the {p} leave your building?")),
    "compatibility": ((
        "Compatibility of the {p}. It works with {platforms} and integrates with {integration}. It is not "
        "supported on {unsupported}.",
        "Supported platforms for the {p}: {platforms}. Integration with {integration} is built in; "
        "{unsupported} is not supported."), (
        "Will the {p} play nicely with the phone and computer I already own?",
        "Which operating systems can't I use the {p} with?",
        "Which other services can the {p} connect to out of the box?")),
    "errors": ((
        "Troubleshooting the {p}: error {code}. This error means {cause}. To fix it, {fix}. If the error "
        "returns, contact support with the diagnostic log.",
        "Error code {code} on the {p} indicates {cause}. Resolution: {fix}."), (
        "My {p} shows {code}; what's wrong and how do I sort it out?",
        "The screen of my {p} flashes {code}. What does that mean?",
        "What does {code} stand for?")),
    "privacy": ((
        "Data retention for the {p}. {data_kind} collected by the {p} is stored in our {region} data "
        "centre and deleted automatically after {retention_days} days. You can export or erase it at any "
        "time from {app}.",
        "Privacy: the {p} keeps {data_kind} for {retention_days} days in the {region} region, after which "
        "it is purged."), (
        "How long do you hold on to the information my {p} gathers?",
        "In which part of the world does the stuff my {p} records end up?",
        "For how many days is what my {p} collects kept around before it's gone?")),
    "environment": ((
        "Operating conditions for the {p}: it works between {tmin} °C and {tmax} °C and is rated {ip} "
        "against dust and water.",
        "Environmental specification of the {p}: operating temperature {tmin} to {tmax} °C, ingress "
        "protection {ip}."), (
        "Can I leave the {p} outside in freezing weather?",
        "Will rain or a splash harm the {p}?",
        "How hot is too hot for the {p}?")),
    "setup": ((
        "Setting up the {p}. Unpack it, {setup_step}, then open {app} and follow the pairing wizard. Most "
        "customers finish in about {setup_min} minutes; you need {setup_need}.",
        "Installation guide for the {p}: {setup_step}; pair it in {app}. Allow {setup_min} minutes. "
        "Required: {setup_need}."), (
        "What's involved in getting the {p} up and running the first time?",
        "How long will it take me to get my new {p} working?",
        "What should I have at hand before I start configuring the {p}?")),
    "size": ((
        "Dimensions and weight of the {p}: {dims} mm, {weight_g} grams without packaging.",
        "Physical specification of the {p}: weighs {weight_g} g and measures {dims} mm."), (
        "How heavy is the {p}?",
        "How big is the {p}; will it fit on a small shelf?",
        "What size is the {p} in real life?")),
    "support": ((
        "Support for the {p}. Our {line} team answers calls on {phone} from {open_h}:00 to {close_h}:00 "
        "{tz}, {days}. Chat support is available in {app} around the clock.",
        "Contacting support about the {p}: phone {phone}, {days}, {open_h}:00 to {close_h}:00 {tz}."), (
        "When can I talk to a real person about my {p}?",
        "What number do I ring for help with the {p}?",
        "Is anyone there on weekends if my {p} misbehaves?")),
    "security": ((
        "Security of the {p}. All traffic between the {p} and our cloud is encrypted with {cipher}, and "
        "account access requires {mfa}. Security fixes are published within {patch_days} days of a "
        "confirmed vulnerability.",
        "The {p} encrypts its connection with {cipher}; sign-in uses {mfa}; vulnerabilities are patched "
        "within {patch_days} days."), (
        "Is what my {p} sends scrambled so nobody can snoop on it?",
        "How quickly do you close holes that hackers could exploit in the {p}?",
        "What do I need to log in to my {p} account besides a password?")),
    "lifecycle": ((
        "End of life for the {p}. The {p} receives software and security updates until {eol}. Its "
        "successor is the {successor}, and owners can upgrade with a {discount} percent loyalty discount.",
        "Lifecycle notice: support for the {p} ends in {eol}. Recommended replacement: {successor} "
        "({discount} percent off for existing owners)."), (
        "Until when will the {p} keep getting patches?",
        "Which newer model takes over from the {p}?",
        "Is the {p} being discontinued soon?")),
    "accounts": ((
        "User accounts on the {p}. One {p} supports up to {seats} users; the administrator invites others "
        "by e-mail from {app}. Each user gets {roles} permissions.",
        "Multi-user access: up to {seats} people can share one {p}; invitations are sent from {app}; roles "
        "available: {roles}."), (
        "How many people on my team can use the same {p}?",
        "How do I let a coworker operate my {p} too?",
        "Can my colleagues have their own logins for the {p}?")),
    "cleaning": ((
        "Cleaning and care of the {p}. Wipe the housing with {cleaner}; never use {avoid}. Check the "
        "{part} every {clean_weeks} weeks and replace it when worn.",
        "Maintenance: clean the {p} with {cleaner} only ({avoid} damages the finish); inspect the {part} "
        "every {clean_weeks} weeks."), (
        "What's the right way to keep my {p} spotless?",
        "Which liquids should never touch the {p}?",
        "Which part of the {p} wears out, and how often should I look at it?")),
    "wireless": ((
        "Wireless connectivity of the {p}: {radio}, with a range of about {range_m} metres indoors. It can "
        "hold {links} simultaneous connections.",
        "Connectivity: the {p} uses {radio}; indoor range up to {range_m} m; {links} devices at once."), (
        "How far from the {p} can I wander before it loses the link?",
        "Does the {p} talk over Bluetooth or some other radio?",
        "How many gadgets can pair with the {p} together?")),
    "recycling": ((
        "Recycling the {p}. When you retire a {p}, send it back through the {program} program with a free "
        "label; we refurbish or recycle {recycle_pct} percent of its materials. Remove the {removable} "
        "first.",
        "End-of-use take-back for the {p}: the {program} program accepts it free of charge and recovers "
        "{recycle_pct} percent of the materials. Take out the {removable} before shipping."), (
        "What should I do with my old {p} once I'm finished with it?",
        "Can I just throw my {p} in the bin?",
        "Do you take back worn-out {p} units?")),
}

# Decoys: release-note lines and forum musings per topic (the topic's words, none of its facts).
NOTE_LINES = {
    "warranty": "The warranty status of a registered {p} is now shown on the device page.",
    "power": "Fixed a bug where the battery percentage of the {p} jumped after charging.",
    "reset": "The factory reset screen now asks for confirmation before erasing settings.",
    "firmware": "Firmware downloads resume after an interrupted connection.",
    "pricing": "Prices on the {p} page now show the subscription plan in local currency.",
    "returns": "Return labels for the {p} can now be printed from the order page.",
    "shipping": "Shipping notifications now include the tracking number.",
    "compatibility": "Improved compatibility with the latest phone operating systems.",
    "errors": "Error messages now link to the matching troubleshooting article.",
    "privacy": "Data export now includes the retention date of each record.",
    "environment": "Temperature warnings now appear when the {p} runs near its limits.",
    "setup": "The setup wizard skips steps already completed.",
    "size": "Updated the product photos of the {p} with accurate dimensions.",
    "support": "Support chat opens with the serial number of the {p} filled in.",
    "security": "Security: hardened the encryption handshake and the sign-in flow.",
    "lifecycle": "This is not the last update: the {p} remains supported.",
    "accounts": "Administrators can now revoke a user's access in one tap.",
    "cleaning": "Added a maintenance reminder for the {p}.",
    "wireless": "Reduced wireless dropouts when many devices are connected.",
    "recycling": "The take-back program is now available in more countries.",
}
FORUM_LINES = {
    "warranty": "Does anyone know if the warranty still counts when the {p} was a gift? Mine has a scratch.",
    "power": "My {p} battery seems worse since winter; anyone else? I charge it every night.",
    "reset": "I reset my {p} twice and the light colour confused me both times.",
    "firmware": "Is it worth waiting before installing the new firmware on the {p}? The last one was buggy.",
    "pricing": "Thinking of buying a second {p}; is the subscription plan worth the price?",
    "returns": "I returned a different product last year and the refund was quick; keep the box.",
    "shipping": "Ordered a {p} on Monday, curious how long shipping will take to my town.",
    "compatibility": "Has anyone got the {p} working with an older laptop?",
    "errors": "Got an error on my {p} this morning, it went away after a restart.",
    "privacy": "I wonder what data the {p} collects; I have not read the privacy page yet.",
    "environment": "Mine sits in the garage; it got very cold last week and the {p} seemed slow.",
    "setup": "Setup of my {p} took a while because my Wi-Fi password was wrong.",
    "size": "The {p} is smaller than I expected from the photos.",
    "support": "Support were friendly when I called about my {p}, but I had to wait.",
    "security": "Is two-factor sign-in worth the hassle on the {p}?",
    "lifecycle": "Rumour says a new model is coming; not sure if the {p} will still get updates.",
    "accounts": "How do you all share one {p} between shifts?",
    "cleaning": "I clean my {p} every month, probably too often.",
    "wireless": "The {p} loses its connection in the back room sometimes.",
    "recycling": "Does the take-back program for the {p} also take the charger?",
}
POLICY = ("{company} general {topic} policy. The details differ per product: see the {topic} article of "
          "your product. This page explains how {company} handles {topic} questions across all product "
          "lines and how to reach the team responsible.")


@dataclass(frozen=True, kw_only=True)
class Question:
    """One labelled question: its text, the ids of the documents that answer it, the product it names."""

    id: str
    text: str
    relevant: tuple[str, ...]
    product: str
    topic: str


@dataclass(frozen=True, kw_only=True)
class Corpus:
    """Documents as ``rag.index_documents`` takes them (``{"id", "content", "metadata"}``) and questions."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _facts(rng: random.Random, name: str, line: str, code_seq: int) -> dict[str, Any]:
    """The facts of one product: drawn from ``rng`` so that near-twin articles differ in them."""
    pick = rng.choice
    return {
        "warranty_m": pick([6, 12, 18, 24, 36, 48]),
        "excluded": pick(["water damage", "cracked screens", "unauthorised repairs", "lightning strikes",
                          "cosmetic wear"]),
        "serial_loc": pick(["under the battery cover", "on the bottom label", "inside the lid",
                            "on the back plate"]),
        "battery_h": pick([6, 8, 10, 12, 16, 24, 36, 72]), "charge_h": pick([1, 2, 3, 4]),
        "charger": pick(["USB-C", "magnetic", "barrel-plug", "cradle"]), "cycles": pick([300, 500, 800]),
        "button": pick(["Reset", "Power", "Mode", "Pair", "Home"]), "hold_s": pick([5, 10, 15, 20, 30]),
        "color": pick(["amber", "blue", "red", "white", "purple"]),
        "version": f"{rng.randint(1, 6)}.{rng.randint(0, 19)}.{rng.randint(0, 9)}",
        "update_time": pick(["2:00", "3:00", "3:30", "4:00", "1:00"]),
        "price": pick([49, 79, 99, 129, 149, 199, 249, 299, 399]), "sub": pick([2, 3, 5, 8, 12]),
        "plan": pick(["Harborline Plus", "Harborline Pro", "CareShield", "CloudKeep"]),
        "plan_feature": pick(["cloud history", "advanced reports", "priority replacement", "remote alerts"]),
        "return_days": pick([14, 30, 45, 60]), "fee": pick([0, 10, 15, 20]),
        "warehouse": pick(["Rotterdam", "Memphis", "Leipzig", "Reno", "Lyon", "Columbus"]),
        "handling": pick([1, 2, 3]), "ship_days": pick([2, 3, 4, 5, 7]),
        "ship_weight": pick(["0.4", "0.9", "1.3", "2.1", "3.5"]),
        "platforms": pick(["iOS 16 and Android 12 or later", "Windows 11 and macOS 13",
                           "Android 13, iOS 17 and Windows 10", "Linux and Windows 11"]),
        "integration": pick(["Shopify", "Home Assistant", "Google Home", "SAP", "Zapier", "Slack"]),
        "unsupported": pick(["ChromeOS", "Windows 7", "iOS 14", "macOS 11"]),
        "code": f"{LINES[line][2]}{code_seq:02d}-{rng.randint(100, 999)}",
        "cause": pick(["the motor is jammed", "the clock lost its time source", "the memory is full",
                       "a sensor came loose", "the certificate expired", "the supply voltage is too low"]),
        "fix": pick(["restart it while holding the Mode button", "free the mechanism and power-cycle it",
                     "delete old records in the app", "reseat the sensor cable", "sync the time in the app",
                     "replace the power adapter"]),
        "data_kind": pick(["Usage history", "Video clips", "Scan logs", "Temperature readings",
                           "Access events"]),
        "region": pick(["Frankfurt", "Dublin", "Virginia", "Oregon", "Singapore", "Sydney"]),
        "retention_days": pick([7, 30, 90, 180, 365]),
        "tmin": pick([-30, -20, -10, 0, 5]), "tmax": pick([35, 40, 45, 50, 60]),
        "ip": pick(["IP54", "IP65", "IP67", "IP68", "IP20"]),
        "setup_step": pick(["charge it fully", "mount the bracket", "plug it into the modem",
                            "insert the batteries", "connect the sensor probe"]),
        "setup_min": pick([5, 10, 15, 20, 30, 45]),
        "setup_need": pick(["a 2.4 GHz Wi-Fi network", "a Phillips screwdriver", "a Harborline account",
                            "a free wall socket"]),
        "dims": f"{rng.randint(40, 300)} x {rng.randint(30, 200)} x {rng.randint(10, 90)}",
        "weight_g": rng.randint(80, 2400), "line": line,
        "phone": f"+1 800 {rng.randint(200, 999)} {rng.randint(1000, 9999)}",
        "open_h": pick([6, 7, 8, 9]), "close_h": pick([17, 18, 20, 22]), "tz": pick(["CET", "ET", "PT"]),
        "days": pick(["Monday to Friday", "every day", "Monday to Saturday"]),
        "cipher": pick(["TLS 1.3", "AES-256-GCM over TLS 1.2", "WPA3 and TLS 1.3"]),
        "mfa": pick(["a one-time code from an authenticator app", "a hardware security key",
                     "an SMS code", "a passkey"]),
        "patch_days": pick([7, 14, 30, 60]),
        "eol": f"{pick(['March', 'June', 'September', 'December'])} {rng.randint(2027, 2033)}",
        "successor": f"{pick(BIRDS)} {LINES[line][2]}{rng.randint(2, 9)}", "discount": pick([10, 15, 20, 25]),
        "seats": pick([1, 3, 5, 10, 25, 50]),
        "roles": pick(["viewer or admin", "operator, supervisor or owner", "guest or member"]),
        "cleaner": pick(["a dry microfibre cloth", "a cloth dampened with isopropyl alcohol",
                         "mild soapy water"]),
        "avoid": pick(["bleach", "acetone", "abrasive pads", "ammonia cleaners"]),
        "part": pick(["print head", "lens cover", "door seal", "trigger spring", "air filter", "gasket"]),
        "clean_weeks": pick([2, 4, 6, 8, 12]),
        "radio": pick(["Wi-Fi 6 and Bluetooth 5.3", "Zigbee and Thread", "Bluetooth Low Energy",
                       "Wi-Fi 5 only", "LoRa at 868 MHz"]),
        "range_m": pick([10, 15, 30, 50, 100, 300]), "links": pick([1, 4, 8, 16, 32]),
        "program": pick(["ReHarbor", "GreenReturn", "Loop Back"]),
        "recycle_pct": pick([70, 80, 85, 90, 95]),
        "removable": pick(["battery", "SD card", "SIM card", "mounting bracket"]),
    }


def _article(product: str, line: str, topic: str, facts: dict[str, Any], variant: int) -> dict[str, Any]:
    noun, app, _ = LINES[line]
    text = TOPICS[topic][0][variant].format(p=product, noun=noun, app=app, **facts)
    return {"id": f"{_slug(product)}-{topic}", "content": text,
            "metadata": {"product": product, "line": line, "topic": topic, "kind": "article"}}


def _products(count: int) -> Iterator[tuple[str, str, int]]:
    """(name, line, sequence) for ``count`` products: the first 48 named after birds, then made-up names
    (``Tavemi R3``), each name once, the lines in turn."""
    lines = list(LINES)
    taken: set[str] = set()
    for index in range(count):
        line = lines[index % len(lines)]
        base = BIRDS[index] if index < len(BIRDS) else ""
        rng = random.Random(f"name:{index}")
        while not base or base in taken:
            base = "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou")
                           for _ in range(rng.choice((2, 3)))).capitalize()
        taken.add(base)
        yield f"{base} {LINES[line][2]}{index % 9 + 1}", line, index


def build(*, seed: int = 15, products: int = 48, questions: int = 300) -> Corpus:
    """The labelled set: ``products`` x 20 articles, the decoys, and ``questions`` labelled questions."""
    corpus = Corpus()
    rng = random.Random(seed)
    catalogue = []
    for name, line, index in _products(products):
        facts = _facts(random.Random(f"{seed}:{name}"), name, line, index)
        catalogue.append((name, line, facts))
        for variant, topic in enumerate(TOPICS):
            corpus.documents.append(_article(name, line, topic, facts, (variant + index) % 2))
        meta = {"product": name, "line": line}
        noted = rng.sample(list(TOPICS), 3)
        notes = " ".join(NOTE_LINES[t].format(p=name) for t in noted)
        corpus.documents.append({"id": f"{_slug(name)}-release-notes", "content": (
            f"{name} release notes, firmware {facts['version']}. {notes}"),
            "metadata": {**meta, "topic": "release-notes", "kind": "release-notes"}})
        for thread, topic in enumerate(rng.sample(list(TOPICS), 2), start=1):
            corpus.documents.append({"id": f"{_slug(name)}-forum-{thread}", "content": (
                f"Community forum, {name} owners. {FORUM_LINES[topic].format(p=name)}"),
                "metadata": {**meta, "topic": topic, "kind": "forum"}})
    for topic in TOPICS:
        corpus.documents.append({"id": f"policy-{topic}", "content": POLICY.format(company=COMPANY,
                                 topic=topic), "metadata": {"topic": topic, "kind": "policy"}})
    pairs = [(p, t) for p in range(len(catalogue)) for t in TOPICS]
    for number, (index, topic) in enumerate(rng.sample(pairs, min(questions, len(pairs)))):
        name, line, facts = catalogue[index]
        template = rng.choice(TOPICS[topic][1])
        corpus.questions.append(Question(
            id=f"q{number:03d}", text=template.format(p=name, **facts), relevant=(f"{_slug(name)}-{topic}",),
            product=name, topic=topic))
    return corpus


def speed_documents(count: int, *, seed: int = 15) -> Iterator[dict[str, Any]]:
    """``count`` articles over as many synthetic products as it takes (20 per product), for the speed
    test; each under the default chunk size (one document, one chunk)."""
    made = 0
    for name, line, index in _products(count // len(TOPICS) + 1):
        facts = _facts(random.Random(f"{seed}:{name}"), name, line, index % 100)
        for variant, topic in enumerate(TOPICS):
            if made == count:
                return
            yield _article(name, line, topic, facts, (variant + index) % 2)
            made += 1


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower())) - _STOP


_STOP = frozenset(re.findall(r"\w+",
    "a an the of to for on in is it my i do does can how what which and or be with by from at your you me "
    "if its are this that"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", help="write the documents and questions as JSON lines here")
    args = parser.parse_args()
    corpus = build()
    by_id = {doc["id"]: doc for doc in corpus.documents}
    overlap = []
    for question in corpus.questions:
        asked, answer = _words(question.text), _words(by_id[question.relevant[0]]["content"])
        overlap.append(len(asked & answer) / len(asked))
    kinds: dict[str, int] = {}
    for doc in corpus.documents:
        kinds[doc["metadata"]["kind"]] = kinds.get(doc["metadata"]["kind"], 0) + 1
    longest = max(len(doc["content"]) for doc in corpus.documents)
    print(f"documents {len(corpus.documents)} {kinds}, longest {longest} chars; questions "
          f"{len(corpus.questions)}; share of a question's words found in its answer: "
          f"{sum(overlap) / len(overlap):.2f} (the product name's included)")
    for question in corpus.questions[:5]:
        print(f"  {question.text}  ->  {by_id[question.relevant[0]]['content'][:90]}...")
    if args.dump:
        with open(args.dump, "w") as out:
            for doc in corpus.documents:
                out.write(json.dumps({"document": doc}) + "\n")
            for question in corpus.questions:
                out.write(json.dumps({"question": question.__dict__}) + "\n")


if __name__ == "__main__":
    main()
