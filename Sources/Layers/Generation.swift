// `generate`: validate, then write .build/<image>/ for every enabled image; and the CalVer
// version the seed's tags use.

import Foundation
import Host

public struct ProjectInvalid: Error, Sendable {
    public var problems: [LayerProblem]
}

extension Project {
    /// Every enabled image generated, in build order (bases first). Refuses an invalid project.
    public func generateAll() throws -> [GeneratedImage] {
        let problems = validate()
        guard problems.isEmpty else { throw ProjectInvalid(problems: problems) }
        var memo = ResolutionMemo()
        return try buildOrder(enabledImageNames).map { name in
            ContainerfileGenerator.generate(try resolve(name, memo: &memo), project: self)
        }
    }

    /// The files `write` puts in .build/IMAGE/, by path relative to that folder.
    public func files(of image: GeneratedImage) -> [String: Data] {
        var files = ["Containerfile": Data(image.containerfile.utf8)]
        if let routes = image.traefikRoutes { files["traefik-routes.yml"] = Data(routes.utf8) }
        if !image.serviceFragments.isEmpty {
            if let supervisordHeader { files["fragments/00-header.conf"] = supervisordHeader }
            for fragment in image.serviceFragments { files["fragments/\(fragment.layer).conf"] = Data(fragment.text.utf8) }
        }
        return files
    }

    /// Whether .build/IMAGE/ holds exactly what `write` would put there (for plans that must
    /// not write: an unchanged folder hashes as a freshly written one would). Read without
    /// following links: a link there is never what `write` puts there.
    public func isWritten(_ image: GeneratedImage) -> Bool {
        guard let build = try? folder.existingSubfolder(".build"), let output = try? build.existingSubfolder(image.name) else { return false }
        let expected = files(of: image)
        var found: [String: Data] = [:]
        guard Self.collectFiles(in: output, prefix: "", limit: expected.count, into: &found) else { return false }
        return found == expected
    }

    /// The regular files under `folder` by relative path; false on anything else (a link,
    /// a device, an unreadable file) or more than `limit` files.
    private static func collectFiles(in folder: ConfinedFolder, prefix: String, limit: Int, into found: inout [String: Data]) -> Bool {
        for name in folder.names() {
            switch folder.kind(of: name) {
            case .file:
                guard found.count < limit, let data = try? folder.readFile(name, limit: 64 << 20) else { return false }
                found[prefix + name] = data
            case .folder:
                guard prefix.isEmpty, let sub = try? folder.existingSubfolder(name),
                      collectFiles(in: sub, prefix: name + "/", limit: limit, into: &found) else { return false }
            default:
                return false
            }
        }
        return true
    }

    /// Writes the generated files under `root`/.build/, replacing what an earlier run wrote
    /// for the same images; returns the Containerfiles' paths. Every step is relative to the
    /// open project folder and never follows a link: a link planted at .build, .build/IMAGE
    /// or a file in it is refused or removed itself, never written or deleted through.
    @discardableResult
    public func write(_ generated: [GeneratedImage]) throws -> [URL] {
        var written: [URL] = []
        do {
            let build = try folder.subfolder(".build", mode: 0o755)
            for image in generated {
                try build.removeTree(image.name)
                let output = try build.subfolder(image.name, mode: 0o755)
                for (path, data) in files(of: image).sorted(by: { $0.key < $1.key }) {
                    var parts = path.split(separator: "/").map(String.init)
                    let name = parts.removeLast()
                    var target = output
                    for part in parts { target = try target.subfolder(part, mode: 0o755) }
                    let file = try target.createFile(name, mode: StateAccess.userMode(0o644), replacing: false)
                    try data.withUnsafeBytes { try file.write($0) }
                }
                written.append(root.appendingPathComponent(".build").appendingPathComponent(image.name).appendingPathComponent("Containerfile"))
            }
        } catch var error as ConfinedPathError {
            error.hint = ConfinedPathError.projectHint
            throw error
        }
        return written
    }
}

public enum CalVer {
    /// YYYY.DDD.HHMM in UTC: year, day of the year, hour and minute.
    public static func version(at date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let year = calendar.component(.year, from: date)
        let day = calendar.ordinality(of: .day, in: .year, for: date) ?? 0
        let hour = calendar.component(.hour, from: date), minute = calendar.component(.minute, from: date)
        // Semver numbers have no leading zeros: 04:05 is 405.
        return "\(year).\(day).\(hour * 100 + minute)"
    }
}
