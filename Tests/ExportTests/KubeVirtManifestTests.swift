import Foundation
import Testing
import Yams
@testable import Export

/// The manifest against KubeVirt's API as its reference documents it: the OpenAPI definitions
/// in kubevirt/kubevirt `api/openapi-spec/swagger.json` (published as
/// https://kubevirt.io/api-reference/, main branch of 2026-08, definitions v1.VirtualMachine,
/// v1.VirtualMachineSpec, v1.VirtualMachineInstanceTemplateSpec, v1.VirtualMachineInstanceSpec,
/// v1.DomainSpec, v1.CPU, v1.Memory, v1.Firmware, v1.Bootloader, v1.EFI, v1.Devices, v1.Disk,
/// v1.DiskTarget, v1.Interface, v1.InterfaceMasquerade, v1.Network, v1.PodNetwork, v1.Volume,
/// v1.ContainerDiskSource, v1.CloudInitNoCloudSource, k8s.io.api.core.v1.LocalObjectReference).
/// Every field the manifest writes must exist there with this type; required fields must be set.
@Suite struct KubeVirtManifestTests {
    enum Kind: Equatable { case object, array, string, integer, boolean, map }

    /// Field path (`[]` marks an array element) -> type, as the reference gives it.
    static let reference: [String: Kind] = [
        "apiVersion": .string, "kind": .string, "metadata": .object, "spec": .object,
        "metadata.name": .string, "metadata.labels": .map, "metadata.annotations": .map,
        "spec.runStrategy": .string, "spec.running": .boolean, "spec.template": .object,
        "spec.template.metadata": .object, "spec.template.metadata.labels": .map,
        "spec.template.spec": .object,
        "spec.template.spec.domain": .object, "spec.template.spec.networks": .array,
        "spec.template.spec.volumes": .array, "spec.template.spec.terminationGracePeriodSeconds": .integer,
        "spec.template.spec.domain.cpu": .object, "spec.template.spec.domain.cpu.cores": .integer,
        "spec.template.spec.domain.memory": .object, "spec.template.spec.domain.memory.guest": .string,
        "spec.template.spec.domain.firmware": .object, "spec.template.spec.domain.firmware.bootloader": .object,
        "spec.template.spec.domain.firmware.bootloader.efi": .object,
        "spec.template.spec.domain.firmware.bootloader.efi.secureBoot": .boolean,
        "spec.template.spec.domain.firmware.bootloader.efi.persistent": .boolean,
        "spec.template.spec.domain.devices": .object,
        "spec.template.spec.domain.devices.rng": .object,
        "spec.template.spec.domain.devices.autoattachSerialConsole": .boolean,
        "spec.template.spec.domain.devices.disks": .array,
        "spec.template.spec.domain.devices.disks[]": .object,
        "spec.template.spec.domain.devices.disks[].name": .string,
        "spec.template.spec.domain.devices.disks[].bootOrder": .integer,
        "spec.template.spec.domain.devices.disks[].disk": .object,
        "spec.template.spec.domain.devices.disks[].disk.bus": .string,
        "spec.template.spec.domain.devices.interfaces": .array,
        "spec.template.spec.domain.devices.interfaces[]": .object,
        "spec.template.spec.domain.devices.interfaces[].name": .string,
        "spec.template.spec.domain.devices.interfaces[].masquerade": .object,
        "spec.template.spec.networks[]": .object, "spec.template.spec.networks[].name": .string,
        "spec.template.spec.networks[].pod": .object,
        "spec.template.spec.volumes[]": .object, "spec.template.spec.volumes[].name": .string,
        "spec.template.spec.volumes[].containerDisk": .object,
        "spec.template.spec.volumes[].containerDisk.image": .string,
        "spec.template.spec.volumes[].containerDisk.imagePullPolicy": .string,
        "spec.template.spec.volumes[].cloudInitNoCloud": .object,
        "spec.template.spec.volumes[].cloudInitNoCloud.userData": .string,
        "spec.template.spec.volumes[].cloudInitNoCloud.secretRef": .object,
        "spec.template.spec.volumes[].cloudInitNoCloud.secretRef.name": .string,
    ]
    /// Required by the reference (v1.VirtualMachine: spec; VirtualMachineSpec: template;
    /// VirtualMachineInstanceSpec: domain; DomainSpec: devices; Disk, Interface, Network,
    /// Volume: name; ContainerDiskSource: image).
    static let required = [
        "spec", "spec.template", "spec.template.spec.domain", "spec.template.spec.domain.devices",
    ]
    static let requiredInElements: [String: [String]] = [
        "spec.template.spec.domain.devices.disks[]": ["name"],
        "spec.template.spec.domain.devices.interfaces[]": ["name"],
        "spec.template.spec.networks[]": ["name"],
        "spec.template.spec.volumes[]": ["name"],
    ]

    let manifest = KubeVirtManifest(name: "demo", containerDisk: "quay.io/me/demo-disk:1", userData: "#cloud-config\nhostname: demo\n",
                                    memoryMiB: 2048, cpus: 2, annotations: ["podman-bootc/cache-key": "abc"])

    func walk(_ value: Any, path: String, problems: inout [String]) {
        if let object = value as? [String: Any] {
            if Self.reference[path] == .map {
                if !object.values.allSatisfy({ $0 is String }) { problems.append("\(path): map values must be strings") }
                return
            }
            if !path.isEmpty, Self.reference[path] != .object { problems.append("\(path): object, reference says \(String(describing: Self.reference[path]))") }
            for field in Self.requiredInElements[path] ?? [] where object[field] == nil { problems.append("\(path).\(field) is required") }
            for (key, child) in object { walk(child, path: path.isEmpty ? key : "\(path).\(key)", problems: &problems) }
        } else if let array = value as? [Any] {
            if Self.reference[path] != .array { problems.append("\(path): array, reference says \(String(describing: Self.reference[path]))") }
            for element in array { walk(element, path: "\(path)[]", problems: &problems) }
        } else {
            let kind: Kind = value is Bool ? .boolean : value is Int ? .integer : .string
            if Self.reference[path] != kind { problems.append("\(path): \(kind), reference says \(String(describing: Self.reference[path]))") }
        }
    }

    @Test func everyFieldIsInTheReferenceWithItsType() throws {
        let document = try #require(try Yams.load(yaml: try manifest.virtualMachineYAML()) as? [String: Any])
        var problems: [String] = []
        walk(document, path: "", problems: &problems)
        for path in Self.required {
            var node: Any? = document
            for part in path.split(separator: ".") { node = (node as? [String: Any])?[String(part)] }
            if node == nil { problems.append("\(path) is required") }
        }
        #expect(problems == [])
    }

    /// The walk itself catches a wrong type and an unknown field.
    @Test func theCheckFindsMistakes() {
        var problems: [String] = []
        walk(["spec": ["runStrategy": 1, "template": ["spec": ["domain": ["devices": ["disk": []]]]]]], path: "", problems: &problems)
        #expect(problems.contains { $0.hasPrefix("spec.runStrategy: integer") })
        #expect(problems.contains { $0.hasPrefix("spec.template.spec.domain.devices.disk: array") })
    }

    @Test func theVirtualMachineBootsTheContainerDiskWithUEFIAndNoPrivateKey() throws {
        let text = try manifest.virtualMachineYAML()
        let vm = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(vm["apiVersion"] as? String == "kubevirt.io/v1")
        #expect(vm["kind"] as? String == "VirtualMachine")
        let spec = try #require(((vm["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let volumes = try #require(spec["volumes"] as? [[String: Any]])
        #expect((volumes[0]["containerDisk"] as? [String: Any])?["image"] as? String == "quay.io/me/demo-disk:1")
        #expect(((volumes[1]["cloudInitNoCloud"] as? [String: Any])?["secretRef"] as? [String: Any])?["name"] as? String == "demo-cloud-init")
        let domain = try #require(spec["domain"] as? [String: Any])
        #expect((((domain["firmware"] as? [String: Any])?["bootloader"] as? [String: Any])?["efi"] as? [String: Any])?["secureBoot"] as? Bool == false)
        #expect((domain["memory"] as? [String: Any])?["guest"] as? String == "2048Mi")
        #expect(!text.contains("PRIVATE KEY"))
    }

    /// KubeVirt reads a cloudInitNoCloud secretRef's user-data from the key `userdata`.
    @Test func theSecretHoldsTheUserData() throws {
        let secret = try #require(try Yams.load(yaml: try manifest.secretYAML()) as? [String: Any])
        #expect(secret["apiVersion"] as? String == "v1")
        #expect(secret["kind"] as? String == "Secret")
        #expect((secret["metadata"] as? [String: Any])?["name"] as? String == "demo-cloud-init")
        #expect((secret["stringData"] as? [String: String])?["userdata"] == "#cloud-config\nhostname: demo\n")
    }

    @Test func namesAreDNSLabelsWithRoomForTheSecretSuffix() {
        #expect(KubeVirtManifest.isValidName("demo-1"))
        for bad in ["", "-a", "a-", "Demo", "a_b", "a.b", String(repeating: "a", count: 53), "a\nb"] {
            #expect(!KubeVirtManifest.isValidName(bad), "\(bad)")
        }
    }
}
