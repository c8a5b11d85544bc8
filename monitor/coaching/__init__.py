"""The coaching wing: from words and acoustic cues to what the operator sees.

- :mod:`~monitor.coaching.textnorm`: folding transcript text (case, accents,
  punctuation) with the way back to the original characters;
- :mod:`~monitor.coaching.playbook` and ``playbooks/*.toml``: the coaching
  playbook per language (phrase triggers and prompt texts), validated at load;
- :mod:`~monitor.coaching.triggers`: phrase triggers on transcripts;
- :mod:`~monitor.coaching.escalation`: the calm / tense / escalated / abusive state;
- :mod:`~monitor.coaching.prompt_policy`: which prompts reach the screen;
- :mod:`~monitor.coaching.coach`: the bus sink that ties them together.

Imports point down: the coach uses the others; nothing here imports the CLI,
the session, the web screen or the hub.
"""
