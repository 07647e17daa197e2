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
        return try buildOrder(enabledImageNames).map { name in
            ContainerfileGenerator.generate(try resolve(name), project: self)
        }
    }

    /// Writes the generated files under `root`/.build/, replacing what an earlier run wrote
    /// for the same images; returns the Containerfiles' paths.
    @discardableResult
    public func write(_ generated: [GeneratedImage]) throws -> [URL] {
        var written: [URL] = []
        for image in generated {
            let folder = root.appendingPathComponent(".build").appendingPathComponent(image.name)
            try? FileManager.default.removeItem(at: folder)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let containerfile = folder.appendingPathComponent("Containerfile")
            try Data(image.containerfile.utf8).write(to: containerfile)
            if let routes = image.traefikRoutes {
                try Data(routes.utf8).write(to: folder.appendingPathComponent("traefik-routes.yml"))
            }
            if !image.serviceFragments.isEmpty {
                let fragments = folder.appendingPathComponent("fragments")
                try FileManager.default.createDirectory(at: fragments, withIntermediateDirectories: true)
                let header = root.appendingPathComponent("templates/supervisord.header.conf")
                if let text = try? Data(contentsOf: header) { try text.write(to: fragments.appendingPathComponent("00-header.conf")) }
                for fragment in image.serviceFragments {
                    try Data(fragment.text.utf8).write(to: fragments.appendingPathComponent("\(fragment.layer).conf"))
                }
            }
            written.append(containerfile)
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
