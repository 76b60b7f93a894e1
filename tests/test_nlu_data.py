"""The training data: Rasa's validator, coverage per intent, entities, held-out separation."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from catalogue import load_catalogue
from catalogue.export import main as export_main
from tests.nlu_examples import ANNOTATION, intent_examples, parse_example, token_spans
from tools.model import ROOT

REQUIRED_INTENTS = (
    "greet goodbye affirm deny thank request_human repeat out_of_scope ask_social_security "
    "ask_medical_insurance ask_provident_fund ask_hukou_transfer ask_property_registration "
    "ask_pension_certification ask_elderly_benefits ask_disability_services ask_id_card "
    "ask_service_hall_info book_proxy_service check_application_status complaint"
).split()
WELL_COVERED = [i for i in REQUIRED_INTENTS if i.startswith("ask_")] + [
    "book_proxy_service", "check_application_status", "complaint", "request_human"]
REQUIRED_ENTITIES = ["service", "person_name", "phone_number", "date", "time", "district", "community"]
# Sent by the voice gateway as "/silence", never predicted from words.
GATEWAY_INTENTS = {"silence"}
HELDOUT_SETS = sorted((ROOT / "tests" / "nlu_eval").glob("*.yml"))


def test_rasa_data_validate_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate", "--config", "assistant/config.yml",
         "--domain", "assistant/domain", "--data", "nlu_data", "--fail-on-warnings"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_generated_catalogue_files_are_up_to_date():
    assert export_main(["--check"]) == 0, "run `make catalogue`"


def test_domain_lists_exactly_the_trained_intents():
    domain = yaml.safe_load((ROOT / "assistant" / "domain" / "core.yml").read_text(encoding="utf-8"))
    assert set(domain["intents"]) == set(intent_examples()) | GATEWAY_INTENTS
    assert set(REQUIRED_INTENTS) <= set(domain["intents"])


@pytest.mark.parametrize("intent", WELL_COVERED)
def test_intent_has_at_least_30_distinct_examples(intent):
    examples = intent_examples()[intent]
    assert len(set(examples)) >= 30


def test_every_required_entity_is_annotated_in_training_data():
    found = {span[3] for lines in intent_examples().values() for line in lines for span in parse_example(line)[1]}
    assert set(REQUIRED_ENTITIES) <= found


def test_phone_numbers_are_taught_in_arabic_digits_and_chinese_numerals():
    phones = [span[2] for lines in intent_examples().values() for line in lines
              for span in parse_example(line)[1] if span[3] == "phone_number"]
    assert any(phone.isdigit() for phone in phones)
    assert any("幺" in phone for phone in phones)


def test_entity_annotations_align_with_jieba_tokens():
    """Misaligned spans are silently dropped by Rasa's training: catch them here."""
    misaligned = []
    for lines in intent_examples().values():
        for line in lines:
            if not ANNOTATION.search(line):
                continue
            text, spans = parse_example(line)
            tokens = token_spans(text)
            starts, ends = {s for s, _ in tokens}, {e for _, e in tokens}
            misaligned += [line for start, end, *_ in spans if start not in starts or end not in ends]
    assert misaligned == []


def test_service_intents_all_have_catalogue_items():
    catalogue = load_catalogue()
    asks = [intent for intent in REQUIRED_INTENTS if intent.startswith("ask_")]
    assert sorted(asks) == catalogue.intents


@pytest.mark.parametrize("heldout_file", HELDOUT_SETS, ids=lambda path: path.name)
def test_heldout_set_is_never_trained_on(heldout_file):
    trained = {parse_example(line)[0] for lines in intent_examples().values() for line in lines}
    heldout = intent_examples([heldout_file])
    overlap = [line for lines in heldout.values() for line in lines if parse_example(line)[0] in trained]
    assert overlap == []
    assert set(REQUIRED_INTENTS) <= set(heldout)
