"""A goroutine handle's name when first asked after the goroutine ended: computed at
its end only while someone holds the handle (gmp/_handles.py, _BODY_REFS)."""

import sys

import gmp
import gmp._handles as H


def test_name_asked_only_after_the_end():
    class Box:
        def work(self):
            return 1

    def plain():
        return 2

    def main():
        kept = [gmp.go(Box().work), gmp.go(plain), gmp.go(len, "abc")]
        group = gmp.Group()
        member = group.go(plain)
        group.wait()
        for g in kept:
            g.join()
        return [g.name for g in kept] + [member.name]

    assert gmp.run(main) == [
        "test_name_asked_only_after_the_end.<locals>.Box.work",
        "test_name_asked_only_after_the_end.<locals>.plain",
        "len",
        "test_name_asked_only_after_the_end.<locals>.plain",
    ]


def test_references_a_running_body_holds():
    # _BODY_REFS: a goroutine whose handle nobody else holds sees exactly that many
    # references to it (getrefcount's argument included) in its body.
    seen = []

    def probe():
        seen.append(sys.getrefcount(H._live[gmp.self_id()]))

    def main():
        gmp.go(probe)  # the handle dropped at once
        gmp.sleep(0.01)
        h = gmp.go(probe)  # held here
        gmp.sleep(0.01)
        assert h.done()
        return seen

    assert gmp.run(main) == [H._BODY_REFS, H._BODY_REFS + 1]
