// podman's answer to `image inspect REFERENCE`, kept while its image storage is unchanged.
//
// Starting podman costs about 0.15 s, as much as a third of a warm start. What a reference
// names changes only when podman's image store changes (a pull, build, tag or removal rewrites
// its images.json), or its storage configuration does: both are stat()ed, and any difference
// asks podman again. Only fully qualified references and image IDs are kept (a short name also
// depends on registries.conf). Nothing is kept where one images.json does not say it all: with
// additional image stores (a name may then move to the main store while the image's own store
// stays unchanged), storage options from the environment, or a podman client talking to a
// service elsewhere (CONTAINER_HOST, CONTAINER_CONNECTION).

import Foundation
import Host

public struct InspectionMemo: Sendable {
    let file: URL
    /// storage.conf files whose change may move the store (graphroot, driver).
    let configurationFiles: [String]
    /// The environment sends podman elsewhere or changes its storage: nothing is kept.
    let disabled: Bool

    public init(file: URL, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.file = file
        var files = ["/etc/containers/storage.conf", "/usr/share/containers/storage.conf"]
        if let chosen = environment["CONTAINERS_STORAGE_CONF"] { files.append(chosen) }
        let home = environment["HOME"] ?? NSHomeDirectory()
        files.append((environment["XDG_CONFIG_HOME"] ?? home + "/.config") + "/containers/storage.conf")
        configurationFiles = files
        disabled = ["CONTAINER_HOST", "CONTAINER_CONNECTION", "STORAGE_OPTS", "STORAGE_DRIVER"].contains { !(environment[$0] ?? "").isEmpty }
    }

    struct Entry: Codable {
        var marker: [String]
        var inspection: ImageInspection
    }

    /// A reference whose meaning does not depend on search registries or short-name aliases.
    static func isKept(_ reference: String) -> Bool {
        if reference.count == 64, reference.allSatisfy(\.isHexDigit) { return true }
        guard let slash = reference.firstIndex(of: "/") else { return false }
        let host = reference[..<slash]
        return host == "localhost" || host.contains(".") || host.contains(":")
    }

    /// The remembered inspection of `reference`, when the storage it came from is unchanged.
    public func recall(_ reference: String) -> ImageInspection? {
        guard Self.isKept(reference), let entry = load()[reference],
              let marker = marker(of: entry.inspection), marker == entry.marker else { return nil }
        return entry.inspection
    }

    /// Keeps `inspection` as what `reference` names (nothing when its store cannot be found).
    public func remember(_ inspection: ImageInspection, as reference: String) {
        guard Self.isKept(reference), let marker = marker(of: inspection) else { return }
        var entries = load()
        // Bounded: the references in use now, not every one ever run.
        if entries.count >= 64 { entries.removeAll() }
        entries[reference] = Entry(marker: marker, inspection: inspection)
        guard let data = try? JSONEncoder().encode(entries) else { return }
        // In podman-bootc's own private folder; a lost race loses one entry, nothing else.
        try? data.write(to: file, options: .atomic)
        chmod(file.path, 0o600)
    }

    private func load() -> [String: Entry] {
        guard let handle = try? FileDescriptorHandle.openRegularFile(file.path) else { return [:] }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while data.count < 4 << 20, let count = try? handle.read(into: &buffer), count > 0 {
            data.append(contentsOf: buffer[..<count])
        }
        return (try? JSONDecoder().decode([String: Entry].self, from: data)) ?? [:]
    }

    /// The store's images.json and the storage configuration, as stat() sees them: the
    /// overlay driver's store is the folder above `<graphroot>/overlay/<layer>/diff`.
    func marker(of inspection: ImageInspection) -> [String]? {
        guard !disabled, !configurationFiles.contains(where: Self.declaresAdditionalStores) else { return nil }
        guard let driver = inspection.graphDriver, driver.name == "overlay",
              let upper = driver.data?["UpperDir"], let range = upper.range(of: "/overlay/", options: .backwards) else { return nil }
        let images = String(upper[..<range.lowerBound]) + "/overlay-images/images.json"
        guard let store = Self.stamp(images) else { return nil }
        return [images + " " + store] + configurationFiles.map { $0 + " " + (Self.stamp($0) ?? "absent") }
    }

    /// Whether a storage.conf lists additional image stores (`additionalimagestores = [ "..." ]`).
    static func declaresAdditionalStores(_ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), text.utf8.count < 1 << 20 else { return false }
        for line in text.split(whereSeparator: \.isNewline) {
            let setting = line.trimmingCharacters(in: .whitespaces)
            guard setting.hasPrefix("additionalimagestores") else { continue }
            // Any quoted entry in the array (which may continue on the next lines) counts.
            let rest = text[text.range(of: String(line))!.upperBound...]
            let array = setting.contains("]") ? Substring(setting) : rest.prefix { $0 != "]" }
            if array.contains("\"") || array.contains("'") { return true }
        }
        return false
    }

    /// Identity and change time of a file (rewritten by rename, so a new inode too).
    static func stamp(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_dev):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec):\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)"
    }
}
