"""The frames Accept the source_drimbox plan sends is, byte for byte, the one of the ANS client sample."""

from __future__ import annotations

from testplans.source_drimbox.test_wado import ANS_FRAMES_ACCEPT


def test_the_plan_sends_the_ans_clients_frames_accept(corpus):
    sample = corpus / "drim-m-data" / "test a blanc" / "Simulateur client wadoRS" / "OK_Frames.txt"
    lines = sample.read_text(encoding="utf-8", errors="replace").splitlines()
    accept = [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("accept:")]
    assert accept == [ANS_FRAMES_ACCEPT]
