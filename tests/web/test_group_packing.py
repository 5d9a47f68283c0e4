"""A group's packing comes from the one platform packing object, for the group's model."""

from __future__ import annotations

import pytest

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.packing import PLATFORM_PACKING


@pytest.mark.parametrize("model", ["paper_cnn", "mlp", "tiny"])
def test_the_key_ceremony_records_the_platform_packing_of_the_groups_model(
    make_user, make_group, model, settings
):
    from training_app import services
    from training_app.models import CooperativeGroup

    settings.DEEPCHAIN_MAX_BLOB = 128 * 1024 * 1024  # the CNN's proven update is about 80 MB

    a, b, c = make_user(), make_user(), make_user()  # N >= 3 (min_contributors)
    g = make_group(a, model_name=model)
    for u in (a, b, c):
        services.join_group(group=g, user=u, simulated=True)
    services.start_group(group=g, by=a)
    assert services.run_key_ceremony(g.id) is True
    g = CooperativeGroup.objects.get(pk=g.pk)
    recorded = PackingScheme.from_json(g.packing)
    assert recorded == PLATFORM_PACKING.scheme(g.key_bits, model, g.update_clip)
    assert recorded.bound == round(g.update_clip * recorded.scale)  # the public L-inf bound
    assert PLATFORM_PACKING.Q(model) == recorded.Q


def test_the_group_page_shows_the_update_bound_every_update_proves(client, make_user, make_group):
    from training_app import services

    a, b, c = make_user(), make_user(), make_user()
    g = make_group(a, model_name="tiny", update_clip=2.0)
    for u in (a, b, c):
        services.join_group(group=g, user=u, simulated=True)
    services.start_group(group=g, by=a)
    assert services.run_key_ceremony(g.id) is True
    client.force_login(b)
    html = client.get(f"/groups/{g.id}/").content.decode()
    g.refresh_from_db()
    bound = PackingScheme.from_json(g.packing).bound
    assert bound == 2 * 2**16  # update_clip x scale (Q = 20 for tiny: scale 2^16)
    assert "|dW| ≤ 2.0 in every coordinate" in html and f"|q| ≤ {bound} per" in html
