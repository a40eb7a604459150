# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Credentials files (INI), read and changed the way botocore reads them."""

from __future__ import annotations

import configparser
import io
import re

from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import CredentialFileError


# The options that make a profile's credentials temporary. botocore takes aws_security_token (the old name)
# before aws_session_token; aws_session_expiration is sts_session's note of the expiry.
TOKEN_OPTIONS = ("aws_session_token", "aws_security_token")
EXPIRATION_OPTION = "aws_session_expiration"


# --- credentials files (INI), read the way botocore reads them ----------------------------------------------
#
# botocore reads ~/.aws/credentials with configparser.RawConfigParser() (botocore.configloader.raw_config_parse):
# strict (a repeated section or option is an error), "#" and ";" comment lines, "=" or ":" between name and
# value, names lower-cased, a [DEFAULT] section that every profile inherits, and values that continue on the
# following lines indented deeper than the option's own line. A profile's lines are found by classifying
# every line exactly as configparser does; every write is then read back by configparser and refused if any
# other profile would read differently.

def _lines(text):
    """text as lines with their endings, split at \\n, \\r\\n and \\r only: where Python's universal newlines
    split a file for configparser (str.splitlines would also split at \\x0b, \\x1c, \\u2028, ...)."""
    return list(io.StringIO(text, newline=""))


def _classify(lines):
    """configparser's reading of each line, as [(kind, section, option)].

    kind: "blank" (empty or a comment), "header", "option", "continuation" (of option, deeper indented than
    the option's line), or "error". This follows RawConfigParser._read with its default settings.
    """
    kinds = []
    section = option = None
    in_section = False
    indent_level = 0
    for line in lines:
        value = line.strip()
        if not value or value.startswith(("#", ";")):
            kinds.append(("blank", section, option))
            continue
        indent = re.search(r"\S", line).start()
        if in_section and option and indent > indent_level:
            kinds.append(("continuation", section, option))
            continue
        indent_level = indent
        header = configparser.RawConfigParser.SECTCRE.match(value)
        if header:
            section, option, in_section = header.group("header"), None, True
            kinds.append(("header", section, None))
            continue
        found = configparser.RawConfigParser.OPTCRE.match(value) if in_section else None
        if found:
            option = found.group("option").rstrip().lower()
            kinds.append(("option", section, option))
        else:
            kinds.append(("error", section, option))
    return kinds


def _parse(text, path, check_nested=True):
    """text read by configparser as botocore reads a credentials file; refused when botocore could not."""
    parser = configparser.RawConfigParser()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CredentialFileError(f"{path} is not UTF-8 text, so botocore cannot read it; fix it by hand")
    try:
        parser.read_file(io.StringIO(text, newline=None), source=path)
    except configparser.Error as exc:
        raise CredentialFileError(
            f"{path} is not a credentials file that botocore can read ({_parse_problem(exc)}), so no profile in "
            "it works; this module does not repair it. Fix it by hand and run the task again")
    if check_nested:
        _view(parser, path)  # botocore also refuses a nested value it cannot read
    return parser


def _parse_problem(exc):
    """What is wrong, by line number and name: the text of a bad line could hold a secret."""
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"line {exc.lineno}: section [{exc.section}] appears twice"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"line {exc.lineno}: option {exc.option} appears twice in section [{exc.section}]"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno} comes before the first [section] header"
    if isinstance(exc, configparser.ParsingError):
        numbers = ", ".join(str(number) for number, _line in exc.errors)
        return f"line {numbers}: neither a [section] header, a name = value option nor a comment"
    return type(exc).__name__


def _view(parser, path):
    """What botocore.configloader.raw_config_parse returns: {profile: {option: value}}, each profile with the
    [DEFAULT] section's options, a value that starts on the next line read as nested name = value lines."""
    view = {}
    for section in parser.sections():
        view[section] = {}
        for option in parser.options(section):
            value = parser.get(section, option)
            if value.startswith("\n"):
                nested = {}
                for line in value.splitlines():  # as botocore.configloader._parse_nested
                    name, sep, rest = line.strip().partition("=")
                    if line.strip() and not sep:
                        raise CredentialFileError(
                            f"{path} is not a credentials file that botocore can read (option {option} of [{section}] "
                            "holds a nested line without '='), so no profile in it works; this module does not "
                            "repair it. Fix it by hand and run the task again")
                    if sep:
                        nested[name.strip()] = rest.strip()
                value = nested
            view[section][option] = value
    return view


def profile_section(text, profile):
    """Where profile's section is in the text of a credentials file: (lines, start, end).

    lines are the text's lines with their endings (see _lines), so "".join(lines) == text. lines[start] is
    the profile's header and lines[start + 1:end] its options, comments and blank lines, up to the next
    section's header or the end of the file (start and end are None when the file has no such section).
    Headers are those that configparser reads as headers ("[annex] # note" is section "annex", "[ annex ]" is
    section " annex ", and an indented "[x]" under an option can be part of its value). This is the one
    reading of sections that every writer of credentials files uses.
    """
    lines = _lines(text)
    kinds = _classify(lines)
    headers = [index for index, (kind, _section, _option) in enumerate(kinds) if kind == "header"]
    start = next((index for index in headers if kinds[index][1] == profile), None)
    if start is None:
        return lines, None, None
    end = next((index for index in headers if index > start), len(lines))
    return lines, start, end


def profile_settings(text, profile, path="the credentials file"):
    """{option: value} of profile as botocore reads it from the text of a credentials file (with the options
    of [DEFAULT]), or None when it has no such section. A file botocore cannot read is refused."""
    view = _view(_parse(text, path), path)
    return view.get(profile)


def _line_ending(lines, index):
    for line in ([lines[index]] if index is not None else []) + lines:
        for ending in ("\r\n", "\n", "\r"):
            if line.endswith(ending):
                return ending
    return "\n"


def set_profile(text, profile, settings, drop=(), path="the credentials file"):
    """The text of a credentials file with profile holding settings ({option: value}).

    The options of settings and drop are taken out of the profile's section (each with its continuation
    lines), and settings are written right after its header, indented like the section's first option (so
    that no following line becomes part of their values); the profile's other lines and every other line of
    the file stay byte for byte. A new profile is added at the end. The result is read back: if any other
    profile would read differently to botocore, or the profile would not read as intended, nothing is written.
    """
    expected = _parse(text, path)
    lines, start, end = profile_section(text, profile)
    newline = _line_ending(lines, start)
    names = {name.lower() for name in list(settings) + list(drop)}
    if start is None:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        if lines and lines[-1].strip():
            lines.append(newline)
        lines += [f"[{profile}]{newline}"] + [f"{name} = {value}{newline}" for name, value in settings.items()]
    else:
        kinds = _classify(lines)
        kept = [line for index, line in enumerate(lines[start + 1:end], start + 1)
                if not (kinds[index][0] in ("option", "continuation") and kinds[index][2] in names)]
        first = next((line for line in kept + lines[end:end + 1] if line.strip() and not line.strip().startswith(
            ("#", ";"))), "")
        indent = first[:len(first) - len(first.lstrip())]
        header = lines[start] if lines[start].endswith(("\n", "\r")) else lines[start] + newline
        block = [f"{indent}{name} = {value}{newline}" for name, value in settings.items()]
        lines[start:end] = [header] + block + kept
    result = "".join(lines)
    if not expected.has_section(profile):
        expected.add_section(profile)
    for name in names:
        expected.remove_option(profile, name)
    for name, value in settings.items():
        expected.set(profile, name, value)
    written = _parse(result, path, check_nested=False)
    inherited = [name for name in drop if written.has_option(profile, name)]
    if inherited:
        raise CredentialFileError(
            f"[DEFAULT] in {path} sets {', '.join(inherited)} for every profile, so profile {profile} would still "
            "hold it beside the new credentials; remove it from [DEFAULT] and run the task again")
    try:
        view = _view(written, path)
    except CredentialFileError:
        # A new profile inherits [DEFAULT]'s values, and botocore reads them only in a profile.
        raise CredentialFileError(
            f"after writing profile {profile}, {path} would not be readable by botocore: a value in [DEFAULT] is a "
            "nested block with a line without '='. Nothing was written; fix [DEFAULT] by hand")
    if view != _view(expected, path):
        raise CredentialFileError(
            f"writing profile {profile} would change how botocore reads {path} beyond that profile; nothing was "
            "written. Please report this file's layout (not its keys)")
    return result


def text_without_profile(text, profile, path):
    expected = _parse(text, path)
    lines, start, end = profile_section(text, profile)
    if start is None:
        return None
    del lines[start:end]
    remaining = "".join(lines)
    expected.remove_section(profile)
    try:
        same = _view(_parse(remaining, path), path) == _view(expected, path)
    except CredentialFileError:
        same = False
    if not same:
        # Only when the next section's header is indented deeper than the option before the removed section.
        raise CredentialFileError(
            f"removing profile {profile} from {path} would change how botocore reads the profile after it (its "
            "indented [header] would become part of the value before); nothing was changed. Remove the "
            "indentation of that header, or the profile, by hand")
    return remaining
