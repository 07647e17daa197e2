// `generate`: validate, then write .build/<image>/ for every enabled image; and the CalVer
// version the seed's tags use.

import Foundation

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
            let header = root.appendingPathComponent("templates/supervisord.header.conf")
            if let text = try? Data(contentsOf: header) { files["fragments/00-header.conf"] = text }
            for fragment in image.serviceFragments { files["fragments/\(fragment.layer).conf"] = Data(fragment.text.utf8) }
        }
        return files
    }

    /// Whether .build/IMAGE/ holds exactly what `write` would put there (for plans that must
    /// not write: an unchanged folder hashes as a freshly written one would).
    public func isWritten(_ image: GeneratedImage) -> Bool {
        let folder = root.appendingPathComponent(".build").appendingPathComponent(image.name)
        let expected = files(of: image)
        guard let found = FileManager.default.enumerator(atPath: folder.path)?.compactMap({ $0 as? String }) else { return false }
        let foundFiles = found.filter { path in
            var isFolder: ObjCBool = false
            return FileManager.default.fileExists(atPath: folder.appendingPathComponent(path).path, isDirectory: &isFolder) && !isFolder.boolValue
        }
        guard Set(foundFiles) == Set(expected.keys) else { return false }
        return expected.allSatisfy { (try? Data(contentsOf: folder.appendingPathComponent($0.key))) == $0.value }
    }

    /// Writes the generated files under `root`/.build/, replacing what an earlier run wrote
    /// for the same images; returns the Containerfiles' paths.
    @discardableResult
    public func write(_ generated: [GeneratedImage]) throws -> [URL] {
        var written: [URL] = []
        for image in generated {
            let folder = root.appendingPathComponent(".build").appendingPathComponent(image.name)
            try? FileManager.default.removeItem(at: folder)
            for (path, data) in files(of: image).sorted(by: { $0.key < $1.key }) {
                let file = folder.appendingPathComponent(path)
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: file)
            }
            written.append(folder.appendingPathComponent("Containerfile"))
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
