// A KubeVirt VirtualMachine (kubevirt.io/v1) booting an exported containerDisk, and the Secret
// holding its cloud-init user-data. Field names and types follow KubeVirt's API reference
// (https://kubevirt.io/api-reference/, v1.VirtualMachine); a test checks them against it.
//
// The user-data holds the guest's host key (so the client can pin it before the first
// connection) and so lives in a Secret the VM references, never in the VirtualMachine itself.
// The client's private key is never written into either.

import BootcCore
import Foundation
import Yams

public struct KubeVirtManifest: Sendable {
    public var name: String
    public var containerDisk: String
    public var userData: String
    public var memoryMiB: Int
    public var cpus: Int
    public var annotations: [String: String]

    public init(name: String, containerDisk: String, userData: String, memoryMiB: Int, cpus: Int, annotations: [String: String]) {
        self.name = name
        self.containerDisk = containerDisk
        self.userData = userData
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.annotations = annotations
    }

    public var secretName: String { "\(name)-cloud-init" }

    /// Kubernetes object names (RFC 1123 DNS labels) the Secret's suffix still fits.
    public static func isValidName(_ name: String) -> Bool {
        (1...52).contains(name.count)
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
            && !name.hasPrefix("-") && !name.hasSuffix("-")
    }

    // MARK: kubevirt.io/v1 VirtualMachine, the fields used

    struct Metadata: Encodable {
        var name: String
        var labels: [String: String]?
        var annotations: [String: String]?
    }
    struct Empty: Encodable {}
    struct VirtualMachine: Encodable {
        var apiVersion = "kubevirt.io/v1"
        var kind = "VirtualMachine"
        var metadata: Metadata
        var spec: Spec
    }
    struct Spec: Encodable {
        var runStrategy = "Always"
        var template: Template
    }
    struct Template: Encodable {
        var metadata: TemplateMetadata
        var spec: InstanceSpec
    }
    struct TemplateMetadata: Encodable { var labels: [String: String] }
    struct InstanceSpec: Encodable {
        var domain: Domain
        var networks: [Network]
        var volumes: [Volume]
    }
    struct Domain: Encodable {
        var cpu: CPU
        var memory: Memory
        var firmware: Firmware
        var devices: Devices
    }
    struct CPU: Encodable { var cores: Int }
    struct Memory: Encodable { var guest: String }
    struct Firmware: Encodable { var bootloader: Bootloader }
    struct Bootloader: Encodable { var efi: EFI }
    struct EFI: Encodable { var secureBoot: Bool }
    struct Devices: Encodable {
        var disks: [Disk]
        var interfaces: [Interface]
        var rng = Empty()
    }
    struct Disk: Encodable {
        var name: String
        var disk: DiskTarget
        var bootOrder: Int?
    }
    struct DiskTarget: Encodable { var bus: String }
    struct Interface: Encodable {
        var name: String
        var masquerade = Empty()
    }
    struct Network: Encodable {
        var name: String
        var pod = Empty()
    }
    struct Volume: Encodable {
        var name: String
        var containerDisk: ContainerDiskSource?
        var cloudInitNoCloud: CloudInitSource?
    }
    struct ContainerDiskSource: Encodable {
        var image: String
        var imagePullPolicy: String
    }
    struct CloudInitSource: Encodable { var secretRef: SecretReference }
    struct SecretReference: Encodable { var name: String }

    // MARK: v1 Secret

    struct Secret: Encodable {
        var apiVersion = "v1"
        var kind = "Secret"
        var metadata: Metadata
        var type = "Opaque"
        var stringData: [String: String]
    }

    private var labels: [String: String] { ["app.kubernetes.io/managed-by": "podman-bootc"] }

    /// The VirtualMachine as YAML.
    public func virtualMachineYAML() throws -> String {
        let vm = VirtualMachine(
            metadata: Metadata(name: name, labels: labels, annotations: annotations),
            spec: Spec(template: Template(
                metadata: TemplateMetadata(labels: ["kubevirt.io/domain": name]),
                spec: InstanceSpec(
                    domain: Domain(
                        cpu: CPU(cores: cpus), memory: Memory(guest: "\(memoryMiB)Mi"),
                        // Our disks boot through systemd-boot or bootc's own UEFI loader;
                        // systemd-boot from Debian is not signed for Secure Boot.
                        firmware: Firmware(bootloader: Bootloader(efi: EFI(secureBoot: false))),
                        devices: Devices(
                            disks: [Disk(name: "containerdisk", disk: DiskTarget(bus: "virtio"), bootOrder: 1),
                                    Disk(name: "cloudinitdisk", disk: DiskTarget(bus: "virtio"))],
                            interfaces: [Interface(name: "default")])),
                    networks: [Network(name: "default")],
                    volumes: [
                        Volume(name: "containerdisk",
                               containerDisk: ContainerDiskSource(image: containerDisk, imagePullPolicy: "IfNotPresent")),
                        Volume(name: "cloudinitdisk", cloudInitNoCloud: CloudInitSource(secretRef: SecretReference(name: secretName))),
                    ]))))
        return try ExportYAML.encode(vm)
    }

    /// The Secret holding user-data under the key KubeVirt reads (`userdata`).
    public func secretYAML() throws -> String {
        try ExportYAML.encode(Secret(metadata: Metadata(name: secretName, labels: labels), stringData: ["userdata": userData]))
    }
}
