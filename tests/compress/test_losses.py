"""The distillation losses behave as their formulas say."""

from __future__ import annotations

import torch

from mobilekit.compress.distill import classifier_loss, embedding_loss, soft_target_loss


def test_soft_target_loss_is_zero_only_when_the_student_matches():
    teacher = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    assert torch.allclose(soft_target_loss(teacher, teacher, 2.0), torch.zeros(2), atol=1e-6)
    assert (soft_target_loss(torch.zeros(2, 2), teacher, 2.0) > 0).all()


def test_unlabelled_examples_get_the_soft_target_term_alone():
    student = torch.tensor([[0.2, 0.1], [1.0, -1.0]])
    teacher = torch.tensor([[2.0, -1.0], [0.0, 1.0]])
    soft = soft_target_loss(student, teacher, 3.0)
    hard = torch.nn.functional.cross_entropy(student, torch.tensor([0, 1]), reduction="none")
    mixed = classifier_loss(student, teacher, torch.tensor([0, -1]), temperature=3.0, alpha=0.25)
    assert torch.allclose(mixed, (0.25 * soft[0] + 0.75 * hard[0] + soft[1]) / 2)
    only_hard = classifier_loss(student, teacher, torch.tensor([0, 1]), temperature=3.0, alpha=0.0)
    assert torch.allclose(only_hard, hard.mean())


def test_embedding_loss_is_zero_for_the_teachers_vectors_and_grows_with_the_angle():
    t = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    assert float(embedding_loss(t, t)) < 1e-6
    assert float(embedding_loss(-t, t)) > float(embedding_loss(t + 0.1, t)) > 0


def test_cls_state_loss_ignores_scale_and_counts_the_angle():
    from mobilekit.compress.distill import cls_state_loss

    t = torch.randn(3, 2, 8, generator=torch.Generator().manual_seed(1))
    assert float(cls_state_loss(t, t)) < 1e-6
    assert float(cls_state_loss(5 * t, t)) < 1e-5  # normalised: only the direction matters
    assert abs(float(cls_state_loss(-t, t)) - 4.0) < 1e-5  # opposite directions: |u - (-u)|^2 = 4
    assert 0 < float(cls_state_loss(t + 0.3, t)) < 4


def test_cls_states_picks_position_zero_after_each_listed_layer():
    from mobilekit.compress.distill import cls_states

    hidden = tuple(torch.full((2, 5, 4), float(i)) for i in range(4))  # embeddings + 3 layers
    picked = cls_states(hidden, [0, 2])
    assert picked.shape == (2, 2, 4) and picked[:, 0].eq(1).all() and picked[:, 1].eq(3).all()


def test_paired_comparison_mcnemar_and_intervals():
    import numpy as np

    from mobilekit.compress.evaluate import paired_comparison, wilson_interval

    teacher = np.array([True] * 80 + [False] * 20)
    student = teacher.copy()
    student[:10] = False  # 10 texts only the teacher gets right, none the other way
    result = paired_comparison(student, teacher)
    assert (result["only_teacher_right"], result["only_student_right"]) == (10, 0)
    assert result["mcnemar_p"] == round(2 / 2**10, 6)  # exact binomial, two-sided
    assert result["retained"] == 0.875
    low, high = result["retained_ci95"]
    assert low < 0.875 < high and high <= 1.0
    assert paired_comparison(teacher, teacher)["mcnemar_p"] == 1.0
    assert paired_comparison(teacher, teacher)["retained_ci95"] == [1.0, 1.0]
    low, high = wilson_interval(80, 100)
    assert round(low, 3) == 0.711 and round(high, 3) == 0.867  # the textbook Wilson interval
