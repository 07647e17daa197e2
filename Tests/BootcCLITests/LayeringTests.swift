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
        #expect(ssh.subtracting(["Ports/LibSSH2GuestShell.swift", "Domain/VMIdentity.swift", "Export/ExportSequence.swift"]).isEmpty,
                "libssh2 reached outside its adapter (key generation aside): \(ssh.sorted())")
    }

    // MARK: The pipeline's folders

    static let pipeline = sources.appendingPathComponent("BootcPipeline")
    /// The run's stages and the parts they are built from; the commands' own folders (Manage,
    /// Dev, Export, Remote) and the shared ground (Context, Ports) are not among them.
    static let stageFolders = ["Resolve", "Build", "Install", "Domain", "Boot", "Connect", "WarmStart", "Run"]

    /// Swift files of one pipeline folder by name, code only: comments and the text of string
    /// literals left out (a shell script's words are not types).
    func pipelineFiles(_ folder: String) throws -> [String: String] {
        let url = Self.pipeline.appendingPathComponent(folder)
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: url.path) where name.hasSuffix(".swift") {
            let text = try String(contentsOf: url.appendingPathComponent(name), encoding: .utf8)
            var inBlock = false
            files[name] = text.split(separator: "\n", omittingEmptySubsequences: false).map { raw -> String in
                let quotes = raw.components(separatedBy: "\"\"\"").count - 1
                if inBlock || quotes > 0 {
                    if quotes % 2 == 1 { inBlock.toggle() }
                    return ""
                }
                let code = raw.range(of: "//").map { String(raw[..<$0.lowerBound]) } ?? String(raw)
                // Outside the quotes: every other piece between double quotes.
                return code.split(separator: "\"", omittingEmptySubsequences: false).enumerated()
                    .filter { $0.offset % 2 == 0 }.map { String($0.element) }.joined(separator: " ")
            }.joined(separator: "\n")
        }
        return files
    }

    /// Types declared in a folder's files.
    func declaredTypes(_ text: String) -> Set<String> {
        let words = text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init)
        var names = Set<String>()
        for (index, word) in words.enumerated().dropLast() where ["struct", "enum", "class", "actor", "protocol"].contains(word) {
            names.insert(words[index + 1])
        }
        return names
    }

    /// Folder -> the folders whose types it names.
    func folderGraph() throws -> [String: Set<String>] {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.pipeline.path).filter { !$0.hasPrefix(".") }
        var texts: [String: String] = [:]
        var owner: [String: String] = [:]
        for folder in folders {
            texts[folder] = try pipelineFiles(folder).values.joined(separator: "\n")
            for type in declaredTypes(texts[folder]!) { owner[type] = folder }
        }
        var graph: [String: Set<String>] = [:]
        for (folder, text) in texts {
            let words = Set(text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init))
            graph[folder] = Set(words.compactMap { owner[$0] }).subtracting([folder])
        }
        return graph
    }

    @Test func theStageFoldersNameEachOtherInNoCycle() throws {
        let graph = try folderGraph()
        #expect(Set(Self.stageFolders).isSubset(of: graph.keys), "folders: \(graph.keys.sorted())")
        // Depth-first search for a path back to where it started.
        func cycle(from start: String, at folder: String, path: [String]) -> [String]? {
            for next in (graph[folder] ?? []).filter(Self.stageFolders.contains).sorted() {
                if next == start { return path + [next] }
                if !path.contains(next), let found = cycle(from: start, at: next, path: path + [next]) { return found }
            }
            return nil
        }
        for folder in Self.stageFolders {
            let found = cycle(from: folder, at: folder, path: [folder])
            #expect(found == nil, "the stage folders name each other in a cycle: \(found?.joined(separator: " -> ") ?? "")")
        }
        // The walk: a later stage never reaches back to an earlier one.
        #expect(!(graph["Connect"] ?? []).contains("Boot") && !(graph["Connect"] ?? []).contains("WarmStart"))
        #expect(!(graph["Install"] ?? []).contains("Boot") && !(graph["Domain"] ?? []).contains("WarmStart"))
    }

    /// Warm start is one component: its decision, save, restore, identity step, agent,
    /// protocol and state store are declared in WarmStart/ and nowhere else.
    @Test func warmStartLivesInOneFolder() throws {
        let own = try pipelineFiles("WarmStart").values.reduce(into: Set<String>()) { $0.formUnion(declaredTypes($1)) }
        for type in ["WarmStart", "WarmStartPlan", "WarmSave", "WarmRestore", "CloneIdentity", "GuestAgentChannel", "GuestAgent",
                     "GuestAgentProtocol", "AgentSession", "GuestIdentityScript", "WarmStateStore", "WarmStateManifest"] {
            #expect(own.contains(type), "\(type) is not in WarmStart/")
        }
        let graph = try folderGraph()
        for folder in graph.keys where folder != "WarmStart" {
            let theirs = try pipelineFiles(folder).values.reduce(into: Set<String>()) { $0.formUnion(declaredTypes($1)) }
            // WarmMode is what the user asked for (a VM option); a *View shows states in `cache list`.
            let warm = theirs.filter { ($0.hasPrefix("Warm") || $0.hasPrefix("GuestAgent") || $0 == "AgentSession")
                && $0 != "WarmMode" && !$0.hasSuffix("View") }
            #expect(warm.isEmpty, "warm-start types outside WarmStart/: \(folder): \(warm.sorted())")
        }
        for module in ["BootcCore", "Installer"] {
            let text = try FileManager.default.subpathsOfDirectory(atPath: Self.sources.appendingPathComponent(module).path)
                .filter { $0.hasSuffix(".swift") }
                .map { try String(contentsOf: Self.sources.appendingPathComponent(module).appendingPathComponent($0), encoding: .utf8) }
                .joined()
            #expect(!declaredTypes(text).contains { $0.hasPrefix("WarmState") || $0.hasPrefix("GuestAgent") }, "warm-start types in \(module)")
        }
    }

    /// Every function on the warm path (the launch, the plan, save, restore, identity step)
    /// fits on a screen: under 60 lines.
    @Test func warmPathFunctionsAreUnder60Lines() throws {
        var files = try pipelineFiles("WarmStart").map { ("WarmStart/" + $0.key, $0.value) }
        files += try pipelineFiles("Boot").map { ("Boot/" + $0.key, $0.value) }
        files += try pipelineFiles("Domain").filter { ["ColdBoot.swift", "DomainStarter.swift"].contains($0.key) }.map { ("Domain/" + $0.key, $0.value) }
        var measured = 0
        for (file, text) in files {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            var index = 0
            while index < lines.count {
                let line = lines[index]
                guard line.contains("func "), line.trimmingCharacters(in: .whitespaces).first != "\"" else { index += 1; continue }
                // The body: from the first "{" until the braces balance again.
                var depth = 0, opened = false, end = index
                scan: for (offset, body) in lines[index...].enumerated() {
                    for character in body {
                        if character == "{" { depth += 1; opened = true }
                        if character == "}" { depth -= 1 }
                        if opened && depth == 0 { end = index + offset; break scan }
                    }
                }
                let length = end - index + 1
                measured += 1
                #expect(length < 60, "\(file): \(line.trimmingCharacters(in: .whitespaces)) has \(length) lines")
                index = opened ? end + 1 : index + 1
            }
        }
        #expect(measured > 20, "only \(measured) functions found")
    }
}
