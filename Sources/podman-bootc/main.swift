// podman-bootc: boot bootable container images as VMs and SSH into them.

import BootcCLI
import Host

// As the confining wrapper of a shared folder's virtiofsd, before anything else runs (it
// keeps the umask and environment virtiofsd is started with); returns otherwise.
VirtiofsdConfinement.runIfAsked(CommandLine.arguments)
await PodmanBootc.runAndExit()
