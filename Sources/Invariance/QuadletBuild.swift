// A quadlet `.build` unit as podrun reads it: what to build, with which arguments, and the
// invariance hash it declares in [Service] Environment=INVARIANCE_HASH=...

import Foundation

public struct QuadletBuild: Sendable, Equatable {
    /// The unit file's path.
    public var path: String
    public var imageTag: String
    public var file: String?
    public var setWorkingDirectory: String?
    /// PodmanArgs words, with ${VAR} and $VAR from [Service] Environment= expanded.
    public var podmanArguments: [String]
    public var buildArguments: [String]
    public var labels: [String]
    public var target: String?
    public var arch: String?
    /// [Service] Environment= variables, later assignments winning.
    public var environment: [String: String]

    /// Quadlet's own section name is [Build]; podrun's example spells it [X-Build].
    public static let buildSections: Set<String> = ["Build", "X-Build"]
    public static let hashVariable = "INVARIANCE_HASH"

    /// The invariance hash the unit declares, if any.
    public var declaredHash: String? {
        environment[Self.hashVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    public init(unit: UnitFile) throws {
        path = unit.path
        func error(_ line: Int, _ message: String) -> UnitFileError { UnitFileError(file: unit.path, line: line, message: message) }

        var environment: [String: String] = [:]
        for entry in unit.values("Environment", in: ["Service"]) {
            let words: [String]
            do { words = try UnitWords.split(entry.value) } catch let failure { throw error(entry.line, "Environment=: \(failure)") }
            for word in words {
                guard let equals = word.firstIndex(of: "="), equals != word.startIndex else {
                    throw error(entry.line, "Environment= assignment \(word.debugDescription) is not NAME=VALUE")
                }
                environment[String(word[..<equals])] = String(word[word.index(after: equals)...])
            }
        }
        self.environment = environment

        let sections = Self.buildSections
        guard !unit.sections.isDisjoint(with: sections) else {
            throw error(1, "no [Build] section (quadlet's name) or [X-Build] section (podrun's); add one with ImageTag=")
        }
        func single(_ key: String) -> UnitEntry? { unit.values(key, in: sections).last }
        guard let tag = single("ImageTag"), !tag.value.isEmpty else {
            throw error(1, "the build section has no ImageTag=; name the image it builds (e.g. ImageTag=localhost/my-image:latest)")
        }
        imageTag = tag.value
        file = single("File")?.value
        setWorkingDirectory = single("SetWorkingDirectory")?.value
        target = single("Target")?.value
        arch = single("Arch")?.value
        buildArguments = unit.values("BuildArg", in: sections).map(\.value)
        labels = unit.values("Label", in: sections).map(\.value)
        var arguments: [String] = []
        for entry in unit.values("PodmanArgs", in: sections) {
            do {
                arguments += try Self.expand(UnitWords.split(entry.value), environment: environment)
            } catch let failure as UnitWordsError {
                throw error(entry.line, "PodmanArgs=: \(failure)")
            }
        }
        podmanArguments = arguments
    }

    public init(contentsOf url: URL) throws {
        try self.init(unit: UnitFile(contentsOf: url))
    }

    /// systemd's expansion in command lines: `${VAR}` becomes the value inside its word;
    /// a word that is exactly `$VAR` becomes the value's words. Unset variables expand to "".
    static func expand(_ words: [String], environment: [String: String]) -> [String] {
        words.flatMap { word -> [String] in
            if word.hasPrefix("$"), !word.hasPrefix("${"), word.dropFirst().allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                let value = environment[String(word.dropFirst())] ?? ""
                return value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            }
            var result = ""
            var rest = word[...]
            while let start = rest.range(of: "${") {
                result += rest[..<start.lowerBound]
                guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                    result += rest[start.lowerBound...]
                    rest = ""
                    break
                }
                result += environment[String(rest[start.upperBound..<end])] ?? ""
                rest = rest[rest.index(after: end)...]
            }
            return [result + rest]
        }
    }

    /// The build context: SetWorkingDirectory= as quadlet reads it (`unit`: the unit's folder,
    /// `file`: File='s folder, a path), else the unit's folder.
    public var contextDirectory: String {
        let unitFolder = (path as NSString).deletingLastPathComponent
        switch setWorkingDirectory {
        case nil, "", "unit": return unitFolder
        case "file":
            guard let file else { return unitFolder }
            let absolute = file.hasPrefix("/") ? file : (unitFolder as NSString).appendingPathComponent(file)
            return (absolute as NSString).deletingLastPathComponent
        case let directory?:
            return directory.hasPrefix("/") ? directory : (unitFolder as NSString).appendingPathComponent(directory)
        }
    }

    /// The Containerfile: File= (relative to the context), else the context's Containerfile.
    public var containerfile: String? {
        guard let file else { return nil }
        return file.hasPrefix("/") ? file : (contextDirectory as NSString).appendingPathComponent(file)
    }

    /// The `podman build` the unit's service would run (quadlet's translation of the fields).
    public var podmanBuildArguments: [String] {
        var argv = ["podman", "build", "--tag", imageTag]
        if let containerfile { argv += ["--file", containerfile] }
        for argument in buildArguments { argv += ["--build-arg", argument] }
        for label in labels { argv += ["--label", label] }
        if let target { argv += ["--target", target] }
        if let arch { argv += ["--arch", arch] }
        argv += podmanArguments
        argv.append(contextDirectory)
        return argv
    }
}

/// How units, services and images are named for each other (podrun's convention):
/// `system.local/ocrmypdf-image:latest` <-> `ocrmypdf-image.build` <-> `ocrmypdf-image-build.service`.
public enum QuadletNaming {
    /// The image's name without registry path, tag or digest.
    public static func baseName(ofImage reference: String) -> String {
        var name = reference
        if let at = name.firstIndex(of: "@") { name = String(name[..<at]) }
        if let slash = name.lastIndex(of: "/") { name = String(name[name.index(after: slash)...]) }
        if let colon = name.lastIndex(of: ":") { name = String(name[..<colon]) }
        return name
    }

    public static func unitFileName(forImage reference: String) -> String { baseName(ofImage: reference) + ".build" }

    public static func serviceName(forUnitFile fileName: String) -> String {
        (fileName.hasSuffix(".build") ? String(fileName.dropLast(".build".count)) : fileName) + "-build.service"
    }

    /// Where quadlet units live: the rootless folders podrun uses first, then the rootful one.
    public static func searchDirectories(home: String, configHome: String?) -> [String] {
        [(configHome ?? home + "/.config") + "/containers/systemd",
         "/etc/containers/systemd/users",
         "/etc/containers/systemd",
         "/usr/share/containers/systemd"]
    }

    /// The `.build` unit for `reference` in the search folders, if one exists.
    public static func findUnit(forImage reference: String, in directories: [String]) -> URL? {
        let name = unitFileName(forImage: reference)
        return directories.lazy.map { URL(fileURLWithPath: $0).appendingPathComponent(name) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }
}
