"""Teacher prompts in STAT's formats and parsers that survive what teachers really write (missing tags, prose,
unknown skills, a "correct" verdict on a failed answer, empty output)."""

from __future__ import annotations

import re

from openrlhf_weakness.stat.skills import SkillList

LABEL_PROMPT = (
    "Here is a list of skills:\n{skills}\n\nQuestion:\n{question}\n\nWhich skills (at most {max_skills}, names "
    "copied from the list) does solving this question need? Answer as <skill>name, name</skill><reason>why</reason>."
)
MISSING_PROMPT = (
    "Here is a list of skills:\n{skills}\n\nQuestion:\n{question}\n\nA student answered:\n{answer}\n\nReference "
    "answer: {reference}\n\nIs the student's answer correct? If not, which skills from the list is the student "
    "missing? Answer as <judge>correct or incorrect</judge><reason>why</reason><skill>name, name</skill>."
)
SKILLS_PROMPT = (
    "Here are example questions from a task:\n{examples}\n\nList the distinct skills a solver needs for this task, "
    "one per line, each as <skill>short name</skill>."
)
SYNTH_PROMPT = (
    "Skill: {skill}\n\nExamples that need this skill, with solutions:\n{examples}\n\nWrite {n} new questions that "
    "stress this skill, not copies with renamed numbers. For each, answer as <reason>what it tests</reason>"
    "<draft>a rough version</draft><question>the final question</question>."
)
TAG = r"<{0}>(.*?)(?:</{0}>|$)"


def _tag(text: str, name: str) -> list[str]:
    return [m.strip() for m in re.findall(TAG.format(name), text or "", re.S | re.I)]


def _split_names(blob: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,;\n]", blob) if p.strip()]


def parse_skill_list(text: str) -> list[str]:
    """Skills from ``<skill>`` tags; without tags, one per non-empty line (bullets and numbers stripped)."""
    tagged = _tag(text, "skill")
    if tagged:
        return [s for blob in tagged for s in _split_names(blob)]
    lines = [re.sub(r"^\s*(?:[-*]|\d+[.)])\s*", "", line).strip() for line in (text or "").splitlines()]
    return [line for line in lines if line and len(line) <= 80]


def parse_labels(text: str, skills: SkillList, max_skills: int = 5) -> list[str]:
    """Skills of a labelled question: the ``<skill>`` tag, else skill names found in the text."""
    tagged = _tag(text, "skill")
    names = [n for blob in tagged for n in _split_names(blob)] if tagged else _names_in_prose(text, skills)
    return skills.resolve(names, max_skills)


def parse_missing(text: str, skills: SkillList, max_skills: int = 5) -> tuple[str, list[str]]:
    """(verdict, missing skills). The verdict is ``correct``, ``incorrect`` or ``unknown`` (no judge tag)."""
    verdict_tags = _tag(text, "judge")
    verdict = "unknown"
    if verdict_tags:
        v = verdict_tags[0].lower()
        verdict = "incorrect" if "incorrect" in v or "wrong" in v else ("correct" if "correct" in v else "unknown")
    return verdict, parse_labels(text, skills, max_skills) if (text or "").strip() else []


def parse_questions(text: str) -> list[str]:
    return [q for q in _tag(text, "question") if q]


def _names_in_prose(text: str, skills: SkillList) -> list[str]:
    def words(value: str) -> str:
        return " " + re.sub(r"[\W_]+", " ", value.lower()).strip() + " "

    lowered = words(text or "")
    return [name for name in skills.names if words(name) in lowered]
