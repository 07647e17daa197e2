// An interactive session on a domain's serial console through libvirt's stream API, driven by
// libvirt's own event loop (as virsh console is): no polling, no sleeping.

import BootcCore
import Foundation
internal import CLibvirt

/// libvirt's default event loop. It must be registered before a connection is opened for
/// stream events to work on that connection.
public enum LibvirtEventLoop {
    public static let registered: Void = {
        _ = LibvirtLibrary.silenced
        virEventRegisterDefaultImpl()
    }()
}

/// How a console session ended.
public enum ConsoleEnd: Sendable, Equatable {
    /// The user typed the escape byte.
    case detached
    /// The input ended (stdin closed).
    case inputClosed
    /// The guest side closed: the VM stopped or another client took the console.
    case closed
    /// `cancel` became readable: the caller stopped the session.
    case cancelled
}

public struct ConsoleError: ToolError {
    public var vm: String
    public var reason: String
    public var description: String {
        "cannot attach to the console of VM \(vm): \(reason). If another client holds it, attach with --force"
    }
}

extension LibvirtDomain {
    /// Connects `input` and `output` (file descriptors, usually a raw-mode terminal) to the
    /// domain's first console until the escape byte is read, the input ends or the console
    /// closes. Blocking: call off the cooperative thread pool. `LibvirtEventLoop.registered`
    /// must have been evaluated before this domain's connection was opened.
    /// A `cancel` file descriptor (the read end of a pipe) ends the session when it becomes
    /// readable, from any thread.
    public func attachConsole(input: Int32, output: Int32, escape: UInt8, force: Bool, cancel: Int32 = -1) throws -> ConsoleEnd {
        guard let stream = virStreamNew(connection.pointer, UInt32(VIR_STREAM_NONBLOCK.rawValue)) else {
            throw LibvirtError.last("create a stream")
        }
        defer { virStreamFree(stream) }
        let flags = UInt32(VIR_DOMAIN_CONSOLE_SAFE.rawValue) | (force ? UInt32(VIR_DOMAIN_CONSOLE_FORCE.rawValue) : 0)
        guard virDomainOpenConsole(pointer, nil, stream, flags) == 0 else {
            let error = LibvirtError.last("open console")
            throw ConsoleError(vm: name, reason: error.message)
        }

        let session = ConsoleSession(stream: stream, input: input, output: output, escape: escape)
        let opaque = Unmanaged.passRetained(session).toOpaque()
        let streamEvents = Int32(VIR_STREAM_EVENT_READABLE.rawValue | VIR_STREAM_EVENT_ERROR.rawValue | VIR_STREAM_EVENT_HANGUP.rawValue)
        guard virStreamEventAddCallback(stream, streamEvents, { _, events, opaque in
            guard let opaque else { return }
            Unmanaged<ConsoleSession>.fromOpaque(opaque).takeUnretainedValue().streamEvent(events)
        }, opaque, { opaque in
            guard let opaque else { return }
            Unmanaged<ConsoleSession>.fromOpaque(opaque).release()
        }) == 0 else {
            Unmanaged<ConsoleSession>.fromOpaque(opaque).release()
            virStreamAbort(stream)
            throw LibvirtError.last("watch the console stream")
        }
        let inputEvents = Int32(VIR_EVENT_HANDLE_READABLE.rawValue | VIR_EVENT_HANDLE_ERROR.rawValue | VIR_EVENT_HANDLE_HANGUP.rawValue)
        let watch = virEventAddHandle(input, inputEvents, { _, _, events, opaque in
            guard let opaque else { return }
            Unmanaged<ConsoleSession>.fromOpaque(opaque).takeUnretainedValue().inputEvent(events)
        }, Unmanaged.passUnretained(session).toOpaque(), nil)

        let cancelWatch = cancel < 0 ? -1 : virEventAddHandle(cancel, Int32(VIR_EVENT_HANDLE_READABLE.rawValue), { _, _, _, opaque in
            guard let opaque else { return }
            let session = Unmanaged<ConsoleSession>.fromOpaque(opaque).takeUnretainedValue()
            session.end = session.end ?? .cancelled
        }, Unmanaged.passUnretained(session).toOpaque(), nil)

        while session.end == nil {
            if virEventRunDefaultImpl() < 0 { session.end = .closed }
        }
        if watch >= 0 { virEventRemoveHandle(watch) }
        if cancelWatch >= 0 { virEventRemoveHandle(cancelWatch) }
        virStreamEventRemoveCallback(stream)
        if session.end == .closed { virStreamAbort(stream) } else { virStreamFinish(stream) }
        return session.end ?? .closed
    }
}

/// The state of one attached console; touched only from the event loop's thread.
final class ConsoleSession {
    let stream: virStreamPtr
    let input: Int32
    let output: Int32
    let escape: UInt8
    var end: ConsoleEnd?
    /// Typed bytes the stream could not take yet (it was full).
    private var pending: [UInt8] = []

    init(stream: virStreamPtr, input: Int32, output: Int32, escape: UInt8) {
        self.stream = stream
        self.input = input
        self.output = output
        self.escape = escape
    }

    func streamEvent(_ events: Int32) {
        if events & Int32(VIR_STREAM_EVENT_READABLE.rawValue) != 0 { receive() }
        if events & Int32(VIR_STREAM_EVENT_WRITABLE.rawValue) != 0 { flush() }
        if events & Int32(VIR_STREAM_EVENT_ERROR.rawValue | VIR_STREAM_EVENT_HANGUP.rawValue) != 0, end == nil { end = .closed }
    }

    func inputEvent(_ events: Int32) {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = read(input, &buffer, buffer.count)
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
        guard count > 0 else {
            end = end ?? .inputClosed
            return
        }
        let typed = buffer[..<count]
        if let escapeIndex = typed.firstIndex(of: escape) {
            pending += typed[..<escapeIndex]
            flush()
            end = .detached
            return
        }
        pending += typed
        flush()
    }

    private func receive() {
        var buffer = [CChar](repeating: 0, count: 4096)
        while end == nil {
            let count = virStreamRecv(stream, &buffer, buffer.count)
            if count == -2 { return }  // nothing more for now
            guard count > 0 else {
                end = .closed
                return
            }
            writeAll(buffer, count: Int(count))
        }
    }

    private func flush() {
        while !pending.isEmpty {
            let sent = pending.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { virStreamSend(stream, $0.baseAddress, $0.count) }
            }
            if sent == -2 { break }
            guard sent > 0 else {
                end = .closed
                return
            }
            pending.removeFirst(Int(sent))
        }
        // Ask for a writable event only while there is something left to send.
        var events = VIR_STREAM_EVENT_READABLE.rawValue | VIR_STREAM_EVENT_ERROR.rawValue | VIR_STREAM_EVENT_HANGUP.rawValue
        if !pending.isEmpty { events |= VIR_STREAM_EVENT_WRITABLE.rawValue }
        virStreamEventUpdateCallback(stream, Int32(events))
    }

    private func writeAll(_ buffer: [CChar], count: Int) {
        var offset = 0
        while offset < count {
            let written = buffer.withUnsafeBufferPointer { write(output, $0.baseAddress! + offset, count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
