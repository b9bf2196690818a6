//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: the error codes it answers with
//===----------------------------------------------------------------------===//

import ThingSpace

/// The `errorCode` strings of the simulator's 400 envelopes.
///
/// Those marked (doc) appear in thingspace-api.md §5; the others are the simulator's own
/// choice where Verizon documents none, named in the same `Service.CLASS.Detail` style so
/// that clients matching on the part after the service name keep working.
enum ErrorCode {
    static let prefix = "UnifiedWebService."
    /// Wrong password or unknown user (simulator's choice).
    static let loginFailed = prefix + "REQUEST_FAILED.LoginFailed"
    /// Locked after `lockoutThreshold` consecutive failures (simulator's choice).
    static let userLocked = prefix + "REQUEST_FAILED.UserLocked"
    /// `VZ-M2M-Token` header missing (doc).
    static let sessionTokenFormat = prefix + "REQUEST_FAILED.SessionToken.Format"
    /// Unknown session token (doc).
    static let sessionTokenInvalid = prefix + "INPUT_INVALID.SessionToken.Invalid"
    /// Session idle too long, or expired by a fault (doc).
    static let sessionTokenExpired = prefix + "REQUEST_FAILED.SessionToken.Expired"
    /// Unknown account (doc).
    static let accountNotFound = prefix + "REQUEST_FAILED.AccountNotFound"
    /// Body missing, not JSON, or missing required fields (doc, generic).
    static let requestUndefined = prefix + "INPUT_INVALID.RequestUndefined"
    /// MT text empty (doc).
    static let smsNull = prefix + "INPUT_INVALID.SmsMessage.Null"
    /// MT text over 160 characters (doc).
    static let smsTooLong = prefix + "INPUT_INVALID.SmsMessage.TooLong"
    /// MT without `deviceIds`, `groupName` or `servicePlan` (simulator's choice).
    static let devicesMissing = prefix + "INPUT_INVALID.DeviceIds.Missing"
    /// Callback `name` not one of the documented service names (simulator's choice).
    static let serviceNameInvalid = prefix + "INPUT_INVALID.ServiceName.Invalid"
    /// Callback `url` not an absolute http(s) URL (simulator's choice).
    static let callbackURLInvalid = prefix + "INPUT_INVALID.Url.Invalid"
    /// Deregistering, or starting callbacks, without such a listener (simulator's choice).
    static let callbackNotRegistered = prefix + "REQUEST_FAILED.CallbackNotRegistered"
    /// Injected 5xx (doc, generic).
    static let unexpectedError = prefix + "REQUEST_FAILED.UnexpectedError"

    /// The REST callback service names (thingspace-api.md §1.6).
    static let serviceNames: Set<String> = [
        "AlertService", "CarrierService", "DevicePRLInformation", "DeviceProfileService", "DevicePromoUsage",
        "DeviceService", "DeviceSuspensionStatus", "DeviceUsage", "DiagnosticsService",
        CallbackServiceName.enhancedConnectivity, "ExtendedEnhancedConnectivityService", "ExternalProvisioningChanges",
        "IntelligenceService", "NetworkEventService", "NiddService", "PromoChanges", "PwnService", "QoS",
        "ResumeTrackingNotification", CallbackServiceName.smsDeliveryConfirmation, "StateService",
        "SubscriptionNotificationService", "VIPCallbackService",
    ]
}

extension ErrorEnvelope {
    static func simulator(_ code: String, _ message: String) -> ErrorEnvelope {
        ErrorEnvelope(errorCode: code, errorMessage: message)
    }
}
