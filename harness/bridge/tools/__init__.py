"""The bridged tools: each module here registers the commands it answers with `@bridged`.
`harness.bridge.registry.bridged_tools()` imports every module of this package, so a new
runbook command is one new module here (no list elsewhere to edit)."""
