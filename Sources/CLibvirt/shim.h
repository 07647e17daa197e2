// The libvirt headers this project uses: the core API and the QEMU monitor passthrough.
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
