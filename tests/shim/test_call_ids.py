"""Call ids (``shim/call_ids.py``): a stored response is named after its call's id, so ids must be
unguessable, not merely unique (docs/responses-api.md#state-previous_response_id)."""

import pytest

from shim.call_ids import CallIds


def test_ids_are_random_hex_of_the_width_asked() -> None:
    ids = CallIds(hex_digits=32)
    drawn = [ids.next() for _ in range(1000)]
    assert all(len(one) == 32 and int(one, 16) >= 0 for one in drawn)
    assert len({one[:8] for one in drawn}) > 990  # no shared prefix, no counter: 1000 draws of 32 bits


@pytest.mark.parametrize("width", [0, -2, 7])
def test_a_width_that_is_not_whole_bytes_is_refused(width: int) -> None:
    with pytest.raises(ValueError):
        CallIds(hex_digits=width)
