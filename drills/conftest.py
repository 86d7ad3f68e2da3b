"""The drills suite: every drill runs through the `drill` pytest plugin.

The plugin (harness.pytest_plugin) gives `drill_stack`, `run_drill`,
`drill_result` and the --drill-* options; nothing here starts anything.
Run it with `pytest drills/ --junitxml=drills.xml`.
"""
