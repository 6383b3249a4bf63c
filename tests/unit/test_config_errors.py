import jsonschema
import pytest
import yaml

from snakesweep.config_errors import describe_config_error

SCHEMA = {
    "type": "object",
    "properties": {
        "data": {
            "type": "object",
            "properties": {"mirrors": {"type": "array", "items": {"type": "string"}}},
        }
    },
}


def _error(instance):
    try:
        try:
            jsonschema.validate(instance, SCHEMA)
        except jsonschema.ValidationError:
            # how Snakemake wraps it: chained implicitly, as its __context__
            raise RuntimeError("Error validating config file.")  # noqa: B904
    except RuntimeError as err:
        return err


@pytest.mark.parametrize("in_override", [True, False])
def test_names_the_file_that_sets_the_key(tmp_path, in_override):
    bad = {"data": {"mirrors": ["ok", 3]}}
    override, base = tmp_path / "override.yaml", tmp_path / "config.yaml"
    override.write_text(yaml.safe_dump(bad if in_override else {"seed": 1}))
    base.write_text(yaml.safe_dump({"data": {"mirrors": ["a"]}} if in_override else bad))
    message = describe_config_error(_error(bad), [str(override), str(base)])
    expected_file = override if in_override else base
    assert (
        message == f"{expected_file}: invalid config at data.mirrors.1: 3 is not of type 'string'"
    )


def test_other_errors_are_left_alone():
    assert describe_config_error(RuntimeError("boom"), ["x.yaml"]) is None


def test_a_value_from_the_command_line_is_blamed_on_it(tmp_path):
    base = tmp_path / "config.yaml"
    base.write_text(yaml.safe_dump({"data": {"mirrors": ["a"]}}))
    bad = {"data": {"mirrors": ["a", 3]}}
    message = describe_config_error(_error(bad), [str(base)])
    assert message.startswith("--config (command line): invalid config at data.mirrors.1")
