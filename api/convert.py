"""ORM rows -> response models (pure; ids resolved by the caller)."""

from __future__ import annotations

from typing import Any

from api.schemas import (
    ExperienceOut,
    IntroductionOut,
    NeedOut,
    SolutionAdminOut,
    SolutionOut,
)
from core.models import Experience, Introduction, Need, Solution

_SOLUTION_PUBLIC = list(SolutionOut.model_fields)


def solution_public(sol: Solution) -> dict[str, Any]:
    return {name: getattr(sol, name) for name in _SOLUTION_PUBLIC}


def solution_out(sol: Solution) -> SolutionOut:
    return SolutionOut.model_validate(solution_public(sol))


def solution_admin(sol: Solution, merged_into: str | None = None) -> SolutionAdminOut:
    return SolutionAdminOut.model_validate(
        {
            **solution_public(sol),
            "id": sol.id,
            "moderation": sol.moderation,
            "moderation_reason": sol.moderation_reason,
            "merged_into": merged_into,
            "source": sol.source,
            "submitted_by_id": sol.submitted_by_id,
        }
    )


def experience_out(rex: Experience, solution_external_id: str | None) -> ExperienceOut:
    fields = [f for f in ExperienceOut.model_fields if f != "solution_external_id"]
    data = {name: getattr(rex, name) for name in fields}
    return ExperienceOut.model_validate({**data, "solution_external_id": solution_external_id})


def need_out(need: Need) -> NeedOut:
    return NeedOut.model_validate({name: getattr(need, name) for name in NeedOut.model_fields})


def introduction_out(
    intro: Introduction, solutions: dict[int, str], experiences: dict[int, str]
) -> IntroductionOut:
    return IntroductionOut(
        id=intro.id,
        status=intro.status,
        need_id=intro.need_id,
        solution_external_id=solutions.get(intro.solution_id or -1),
        experience_external_id=experiences.get(intro.experience_id or -1),
        target_label=intro.target_label,
        message=intro.message,
        created_at=intro.created_at,
        responded_at=intro.responded_at,
    )
