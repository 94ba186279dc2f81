"""A team's deployment as input: its files read with their source lines, and what its images
hold. The drift report (`harness.deployment.drift`) checks a runbook against it.

API (stable; other packages use only these):

    load_deployment(dir) -> Deployment
        compose file(s) (plain `docker-compose`'s file, then its override), Dockerfile(s)
        (stages, ENTRYPOINT/CMD, installed packages), `.env.example`, Makefile targets,
        systemd units, Kubernetes manifests; `Deployment.problems` lists every file a tool
        refuses as it stands, with file and line. A Markdown fence around a file is such a
        problem ("not valid YAML: line 1 is a Markdown fence"); the content inside is still
        read, with the file's own line numbers. Raises DeploymentError (a BadInput: exit 2)
        for a missing dir or a dir without a compose file.
    compose_text(dir) -> str, compose_source(dir) -> SourceFile
        the compose file plain `docker-compose` loads, fence lines blanked (lines unchanged).
    image_tools(dir_or_deployment, service, *, engine=False, candidates=()) -> set[str] | None
        programs the service's image has on PATH (from the Dockerfile stage it is built
        from, or a well-known image); with engine=True also asks the local image itself for
        each candidate (`docker run --rm --entrypoint sh IMAGE -c 'command -v X'`) when an
        engine answers and the image exists. None: cannot tell.
    image_reference(deployment, service) -> str
        the image `docker-compose up` runs for a service.

The drift report (imported from its own modules, so that reading a deployment stays light):

    harness.deployment.drift.drift_report(dir, runbook_paths, *, engine=False) -> DriftReport
        every runbook step checked against the deployment (the checks: `rules/`); BadInput
        for a missing dir, no compose file, a runbook that does not parse.
    harness.deployment.report.DriftReport: findings, exit_status (0 no drift, 1 drift),
        for_scenario(id), to_dict()/from_dict() (docs/drift-schema.md)
    harness.deployment.render.to_text / to_markdown: the terminal and Markdown views.

Limitation: a service an override file changes is merged field by field, but its line
numbers are reported against the last file that defines the service.
"""

from harness.deployment.image import compose_source, compose_text, image_reference, image_tools
from harness.deployment.load import Deployment, DeploymentError, Problem, load_deployment

__all__ = [
    "Deployment",
    "DeploymentError",
    "Problem",
    "compose_source",
    "compose_text",
    "image_reference",
    "image_tools",
    "load_deployment",
]
