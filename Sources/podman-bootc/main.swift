// podman-bootc: boot bootable container images as VMs and SSH into them.

import BootcCLI

await PodmanBootc.runAndExit()
