// Failures of a VM after it was created: it stopped while booting, or SSH never answered.

import BootcCore

package enum VMError: ToolError {
    case stoppedWhileBooting(name: String, consoleLog: String)
    case sshTimeout(name: String, seconds: Int64, port: Int, lastError: String, consoleLog: String)
    case invalidName(String)
    case nameInUse(String)
    case privilegedPort(Int, lowestAllowed: Int)
    /// An option that needs the VM's network with --network none.
    case needsNetwork(String)
    case sharedFolderOnRemoteHost
    case kvmForForeignArchitecture(guest: Architecture, host: Architecture)
    /// Options that work only with a VM on this machine.
    case notOnRemoteHosts(String)
    /// The UEFI firmware would not start the disk's boot loader (Secure Boot: not signed by a
    /// key it trusts).
    case firmwareRefused(name: String, line: String, consoleLog: String)
    /// The guest never took its login keys, and its image runs SELinux enforcing.
    case enforcingGuestWithoutKeys(name: String, failure: String)

    package var exitCode: Int32 {
        switch self {
        case .stoppedWhileBooting, .sshTimeout, .enforcingGuestWithoutKeys: ExitStatus.vmFailure
        case .privilegedPort, .needsNetwork, .sharedFolderOnRemoteHost, .kvmForForeignArchitecture, .notOnRemoteHosts: ExitStatus.usage
        default: ExitStatus.toolFailure
        }
    }

    package var description: String {
        switch self {
        case .stoppedWhileBooting(let name, let log):
            return "VM \(name) stopped before SSH answered; its serial console is in \(log) (last lines above)"
        case .sshTimeout(let name, let seconds, let port, let lastError, let log):
            return "VM \(name) did not answer SSH on 127.0.0.1:\(port) within \(seconds)s (last attempt: \(lastError)); "
                + "check that the image runs sshd, or raise --ssh-timeout; serial console: \(log) (last lines above)"
        case .invalidName(let name):
            return "invalid VM name \(name.debugDescription): use letters, digits, '-', '_' and '.', starting with a letter or digit, at most 64 characters"
        case .privilegedPort(let port, let lowest):
            return "-p: host port \(port) is privileged, and you run podman-bootc as a user: publish on port \(lowest) or higher "
                + "(e.g. -p \(port + 8000 < 65536 ? port + 8000 : lowest):GUEST), or run with sudo (net.ipv4.ip_unprivileged_port_start is \(lowest))"
        case .needsNetwork(let what):
            return "\(what) needs SSH, and --network none gives the VM no network card; use --network isolated (nothing goes out, SSH comes in)"
        case .sharedFolderOnRemoteHost:
            return "-v shares a folder of this machine, and the VM would run on another host: drop -v, or copy the files into the image"
        case .kvmForForeignArchitecture(let guest, let host):
            return "--accel kvm runs only guests of this host's architecture (\(host.rawValue)), and the image is \(guest.rawValue): "
                + "leave out --accel (software emulation is chosen), or use an \(guest.rawValue) host"
        case .nameInUse(let name):
            return "a libvirt domain named \(name) exists already; choose another --name"
        case .enforcingGuestWithoutKeys(let name, let failure):
            return "\(failure). VM \(name)'s image runs SELinux enforcing: a policy without rules for systemd credentials "
                + "(Debian 12's) keeps systemd-tmpfiles and sshd from reading the login keys podman-bootc gives it; "
                + "boot it permissive with --karg enforcing=0 to see the denials (docs/production-images.md)"
        case .notOnRemoteHosts(let what):
            return "\(what) work only for VMs on this machine for now: leave them out, or run without --connect to another host"
        case .firmwareRefused(let name, let line, let log):
            return "the UEFI firmware of VM \(name) refused to start the disk's boot loader (\(line)): with --secure-boot it must be "
                + "signed by a key the firmware trusts (Microsoft's: a distribution's shim); boot without --secure-boot, or install a signed boot "
                + "chain in the image; serial console: \(log) (last lines above)"
        }
    }
}
