// The layering rules of the code: commands parse and render, the pipeline does the work.
// BootcCLI never reaches libvirt, libssh2, the installer or the host directly; the pipeline
// never parses arguments.

import Foundation
import Testing

@Suite struct LayeringTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources")

    /// Module names imported by the Swift files under `target`, with the files that import them.
    func imports(of target: String) throws -> [String: [String]] {
        let folder = Self.sources.appendingPathComponent(target)
        var found: [String: [String]] = [:]
        let files = try #require(FileManager.default.enumerator(atPath: folder.path)).compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty, "no sources under \(folder.path)")
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let at = words.firstIndex(of: "import"), at + 1 < words.count,
                      words[..<at].allSatisfy({ $0.hasPrefix("@") || ["internal", "package", "public", "private"].contains($0) }) else { continue }
                found[String(words[at + 1]), default: []].append(file)
            }
        }
        return found
    }

    @Test func commandsReachNeitherLibvirtNorSSHNorTheInstallerNorTheHost() throws {
        let imports = try imports(of: "BootcCLI")
        for module in ["Libvirt", "SSH", "Installer", "Host", "CLibvirt", "CLibSSH2"] {
            #expect(imports[module] == nil, "BootcCLI imports \(module) in \(imports[module] ?? [])")
        }
        #expect(imports["BootcPipeline"] != nil)
    }

    @Test func thePipelineParsesNoArguments() throws {
        let imports = try imports(of: "BootcPipeline")
        #expect(imports["ArgumentParser"] == nil, "BootcPipeline imports ArgumentParser in \(imports["ArgumentParser"] ?? [])")
    }

    /// Blocking C calls leave Swift's pool in the live adapters only.
    @Test func onlyThePortAdaptersTalkToLibvirtAndLibssh2() throws {
        let imports = try imports(of: "BootcPipeline")
        let ssh = Set(imports["SSH"] ?? [])
        #expect(ssh.subtracting(["Ports/LibSSH2GuestShell.swift", "WarmStart/CloneIdentity.swift", "Export/ExportSequence.swift"]).isEmpty,
                "libssh2 reached outside its adapter (key generation aside): \(ssh.sorted())")
    }
}
