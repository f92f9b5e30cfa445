# flowem: flow-matching priors for electron-microscopy inverse problems.
# One rules file per stage; each rule calls one module of the flowem package.
from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/prior.smk"
include: "workflow/rules/flowdps.smk"
include: "workflow/rules/restore.smk"
include: "workflow/rules/generalist.smk"
include: "workflow/rules/sip.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
