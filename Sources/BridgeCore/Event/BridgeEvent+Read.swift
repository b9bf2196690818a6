//===----------------------------------------------------------------------===//
// ThingBridge — reading a stored event back without a JSON tree
//===----------------------------------------------------------------------===//

import ThingSpace

extension BridgeEvent {
    /// The event in `bytes` (structured-mode JSON, any key order, unknown members skipped), read
    /// member by member; nil when anything is missing, of the wrong type or not JSON.
    ///
    /// Takes exactly what ``init(json:)`` takes and gives the same event (a test holds the two
    /// together); nil where that one throws, so that `decode` can ask it for the error. Every
    /// delivery reads its event back: building the `JSONValue` tree first was half of it.
    static func read(_ bytes: UnsafeRawBufferPointer) -> BridgeEvent? {
        try? JSONPullReader.read(bytes) { reader throws(JSONParseError) -> BridgeEvent? in
            var specversion: String?, id: String?, source: String?, type: String?
            var subject: String?, time: String?, datacontenttype: String?
            var data: SMSData?
            try reader.beginObject()
            while let index = try reader.nextMember(Self.members) {
                switch Member(rawValue: index) {
                case .data: data = try SMSData.read(&reader)
                case .datacontenttype: datacontenttype = try reader.string()
                case .id: id = try reader.string()
                case .source: source = try reader.string()
                case .specversion: specversion = try reader.string()
                case .subject: subject = try reader.string()
                case .time: time = try reader.string()
                case .type: type = try reader.string()
                case nil: try reader.skipValue()
                }
            }
            guard let specversion, let id, let source, let type, let subject, let time, let datacontenttype, let data else { return nil }
            var event = BridgeEvent(id: id, source: source, subject: subject, time: time, data: data)
            event.specversion = specversion
            event.type = type
            event.datacontenttype = datacontenttype
            return event
        }
    }

    /// The members read, each case named as its JSON member.
    private enum Member: Int, CaseIterable { case data, datacontenttype, id, source, specversion, subject, time, type }

    /// Matched by their bytes: no `String` is made for a member's name.
    private static let members = JSONKeys(Member.allCases.map { "\($0)" })
}

extension SMSData {
    /// The `data` object; nil (the whole read fails) when a member is missing or invalid.
    fileprivate static func read(_ reader: inout JSONPullReader) throws(JSONParseError) -> SMSData? {
        var account: String?, device: DeviceID?, deviceIds: [DeviceID]?, text: String?
        var channelName: String?, receivedAt: String?
        var requestId: String?, timestamp: String?
        // As written, checked at the end: a member written twice counts with its last value.
        var callbackLiteral: String?
        var devicesValid = true
        try reader.beginObject()
        while let index = try reader.nextMember(Self.members) {
            switch Member(rawValue: index) {
            case .account: account = try reader.string()
            case .callbackCount: callbackLiteral = try reader.null() ? nil : try reader.number()
            case .channel: channelName = try reader.string()
            case .device: device = try readDevice(&reader)
            case .deviceIds:
                var list: [DeviceID] = []
                devicesValid = true
                try reader.beginArray()
                while try reader.nextElement() {
                    if let device = try readDevice(&reader) { list.append(device) } else { devicesValid = false }
                }
                deviceIds = list
            case .receivedAt: receivedAt = try reader.string()
            case .requestId: requestId = try reader.null() ? nil : try reader.string()
            case .text: text = try reader.string()
            case .timestamp: timestamp = try reader.null() ? nil : try reader.string()
            case .kind, .id, nil: try reader.skipValue()
            }
        }
        let callbackCount = callbackLiteral.map(JSONValue.integer)
        guard devicesValid, callbackCount != .some(nil), let account, let device, let deviceIds, let text,
              let channelName, let channel = Channel(rawValue: channelName), let receivedAt
        else { return nil }
        return SMSData(
            account: account, device: device, deviceIds: deviceIds, text: text, channel: channel,
            receivedAt: receivedAt, requestId: requestId, timestamp: timestamp, callbackCount: callbackCount ?? nil
        )
    }

    /// A `{"id":…,"kind":…}` object; nil when either is missing.
    private static func readDevice(_ reader: inout JSONPullReader) throws(JSONParseError) -> DeviceID? {
        var kind: String?, id: String?
        try reader.beginObject()
        while let index = try reader.nextMember(Self.members) {
            switch Member(rawValue: index) {
            case .kind: kind = try reader.string()
            case .id: id = try reader.string()
            default: try reader.skipValue()
            }
        }
        guard let kind, let id else { return nil }
        return DeviceID(kind: kind, id: id)
    }

    /// The data object's and a device object's members (one table: the two never clash), each
    /// case named as its JSON member.
    private enum Member: Int, CaseIterable {
        case account, callbackCount, channel, device, deviceIds, receivedAt, requestId, text, timestamp
        /// A device object's.
        case kind, id
    }

    /// Matched by their bytes: no `String` is made for a member's name.
    private static let members = JSONKeys(Member.allCases.map { "\($0)" })
}
