"""hop.version, as the hop-client API reference lists it."""

from hop import version


def test_packages_include_skyhop_and_librdkafka():
    names = version.get_packages()
    assert names[0] == "skyhop"
    assert "librdkafka" in names and "confluent-kafka" in names


def test_print_packages_versions_prints_name_equals_version(capsys):
    version.print_packages_versions()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("skyhop==")
    assert all("==" in line for line in lines)
