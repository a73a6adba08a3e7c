"""hop.version, as the hop-client API reference lists it."""

from hop import version


def test_packages_include_skyhop_and_librdkafka():
    names = version.get_packages()
    # The hop-client API level comes first, as upstream's first line, then skyhop.
    assert names[:2] == ["hop-client", "skyhop"]
    assert "librdkafka" in names and "confluent-kafka" in names


def test_print_packages_versions_prints_name_equals_version(capsys):
    version.print_packages_versions()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "hop-client==0.13.0"
    assert lines[1].startswith("skyhop==")
    assert all("==" in line for line in lines)
