"""Each identity provider's own steps and field names for the setup-link flow (issue 18): what the IT
admin clicks in their IdP, and what that IdP calls each value Orgkit gives them. Plain data, read by
the setup pages; the values themselves come from services/sso/saml.py and the SCIM base URL."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Guide:
    key: str
    name: str
    sso_steps: tuple = ()
    # What this IdP's form calls each SP value (labels of the copy fields).
    sso_labels: dict = field(default_factory=dict)
    metadata_hint: str = ""
    scim_steps: tuple = ()
    scim_labels: dict = field(default_factory=dict)
    # Set when the IdP cannot provision a custom app over SCIM: said instead of steps.
    scim_unsupported: str = ""


GENERIC_SSO_LABELS = {"acs_url": "ACS URL (Assertion Consumer Service URL)", "entity_id": "SP entity ID (Audience)",
                      "metadata_url": "SP metadata URL"}
GENERIC_SCIM_LABELS = {"base_url": "SCIM base URL", "token": "Bearer token"}
ATTRIBUTES_NOTE = ("Send the person's email as the NameID (or an attribute named email), their names as "
                   "firstName and lastName, and their groups as groups.")

GUIDES = [
    Guide(
        "okta", "Okta",
        sso_steps=(
            "In the Okta Admin Console open Applications → Applications and click Create App Integration.",
            "Choose SAML 2.0, name the app, and click Next.",
            "Paste the Single sign-on URL and the Audience URI (SP Entity ID) below. Keep \"Use this for "
            "Recipient URL and Destination URL\" ticked. Name ID format: EmailAddress; Application username: Email.",
            "Under Attribute Statements add email = user.email, firstName = user.firstName, lastName = user.lastName. "
            "Under Group Attribute Statements add groups, filter Matches regex .*",
            "Finish, then on the Sign On tab copy the Metadata URL (or open it and copy the XML) into step 2 here.",
            "Assign the app to the people or groups who should log in.",
        ),
        sso_labels={"acs_url": "Single sign-on URL", "entity_id": "Audience URI (SP Entity ID)",
                    "metadata_url": "SP metadata URL (for reference)"},
        metadata_hint="Okta: Sign On tab → Metadata URL.",
        scim_steps=(
            "In the app's General tab click Edit and set Provisioning to SCIM, then Save.",
            "On the Provisioning tab → Integration click Edit. Paste the SCIM connector base URL above; "
            "Unique identifier field for users: userName.",
            "Tick Push New Users, Push Profile Updates and Push Groups. Authentication Mode: HTTP Header, "
            "and paste the token as the Authorization bearer token. Click Test Connector Configuration, then Save.",
            "Under Provisioning → To App enable Create Users, Update User Attributes and Deactivate Users.",
            "Assign people or push a group: their requests appear below as they arrive.",
        ),
        scim_labels={"base_url": "SCIM connector base URL", "token": "Authorization (HTTP Header, Bearer)"},
    ),
    Guide(
        "entra", "Microsoft Entra ID",
        sso_steps=(
            "In the Microsoft Entra admin center open Enterprise applications → New application → "
            "Create your own application, and choose \"Integrate any other application you don't find in the gallery (Non-gallery)\".",
            "Open Single sign-on and choose SAML.",
            "Under Basic SAML Configuration click Edit and paste the Identifier (Entity ID) and the "
            "Reply URL (Assertion Consumer Service URL) below. Save.",
            "Under Attributes & Claims click Add a group claim and choose \"Groups assigned to the application\".",
            "Under SAML Certificates copy the App Federation Metadata Url into step 2 here (or download the "
            "Federation Metadata XML and upload it).",
            "Under Users and groups assign who may log in.",
        ),
        sso_labels={"acs_url": "Reply URL (Assertion Consumer Service URL)", "entity_id": "Identifier (Entity ID)",
                    "metadata_url": "SP metadata URL (for reference)"},
        metadata_hint="Entra ID: SAML Certificates → App Federation Metadata Url.",
        scim_steps=(
            "In the same enterprise application open Provisioning and click Get started.",
            "Provisioning Mode: Automatic. Under Admin Credentials paste the Tenant URL and the Secret Token above.",
            "Click Test Connection, then Save.",
            "Under Mappings keep userPrincipalName → userName (or map mail → userName).",
            "Set Provisioning Status to On. Entra ID provisions every 40 minutes; \"Provision on demand\" sends one person now.",
        ),
        scim_labels={"base_url": "Tenant URL", "token": "Secret Token"},
    ),
    Guide(
        "google", "Google Workspace",
        sso_steps=(
            "In the Google Admin console open Apps → Web and mobile apps → Add app → Add custom SAML app.",
            "Name the app and continue. On Google Identity Provider details click Download Metadata (you upload it in step 2 here).",
            "On Service provider details paste the ACS URL and the Entity ID below. Name ID format: EMAIL; Name ID: "
            "Basic Information > Primary email.",
            "On Attribute mapping map Primary email → email, First name → firstName, Last name → lastName, "
            "and under Group membership choose groups → groups.",
            "Finish, then turn User access ON for the people who should log in.",
        ),
        sso_labels={"acs_url": "ACS URL", "entity_id": "Entity ID", "metadata_url": "SP metadata URL (for reference)"},
        metadata_hint="Google: Google Identity Provider details → Download Metadata.",
        scim_unsupported=("Google Workspace provisions over SCIM only to apps in its own catalog, not to a custom "
                          "SAML app. Use single sign-on: people get their account when they first log in."),
    ),
    Guide(
        "jumpcloud", "JumpCloud",
        sso_steps=(
            "In the JumpCloud Admin Portal open SSO Applications, click Add New Application and choose Custom Application.",
            "Choose Manage Single Sign-On (SSO) with SAML and continue to the SSO tab.",
            "IdP Entity ID: any name (e.g. jumpcloud-orgkit). Paste the SP Entity ID and the ACS URL below. "
            "SAMLSubject NameID: email. Signature Algorithm: RSA-SHA256; sign the Assertion.",
            "Under User Attributes add email = email, firstName = firstname, lastName = lastname; tick Include "
            "group attribute and name it groups.",
            "Activate, then click Export Metadata and upload the file in step 2 here.",
            "Bind the user groups who should log in.",
        ),
        sso_labels={"acs_url": "ACS URL", "entity_id": "SP Entity ID", "metadata_url": "SP metadata URL (for reference)"},
        metadata_hint="JumpCloud: the application's Export Metadata button.",
        scim_steps=(
            "Open the application's Identity Management tab and choose SCIM 2.0.",
            "Paste the Base URL and the Token Key above, then click Test Connection.",
            "Click Activate, then Save. Bound users are provisioned; their requests appear below.",
        ),
        scim_labels={"base_url": "Base URL", "token": "Token Key"},
    ),
    Guide(
        "onelogin", "OneLogin",
        sso_steps=(
            "In OneLogin open Administration → Applications → Add App and choose SAML Custom Connector (Advanced).",
            "On Configuration paste the Audience (EntityID) and the ACS (Consumer) URL below; put the same URL in "
            "Recipient, and in ACS (Consumer) URL Validator the URL with ^ before and $ after it.",
            "SAML signature element: Assertion. SAML nameID format: Email.",
            "On Parameters add email, firstName, lastName and groups (include in SAML assertion).",
            "Save, then on the SSO tab copy the Issuer URL (the metadata URL) into step 2 here.",
        ),
        sso_labels={"acs_url": "ACS (Consumer) URL", "entity_id": "Audience (EntityID)",
                    "metadata_url": "SP metadata URL (for reference)"},
        metadata_hint="OneLogin: SSO tab → Issuer URL.",
        scim_steps=(
            "Add the app SCIM Provisioner with SAML (SCIM v2 Enterprise) (or use it instead of the custom connector).",
            "On Configuration paste the SCIM Base URL and the SCIM Bearer Token above, then click Enable under API Connection.",
            "On Provisioning tick Enable provisioning and Save. Assigned users are provisioned; their requests appear below.",
        ),
        scim_labels={"base_url": "SCIM Base URL", "token": "SCIM Bearer Token"},
    ),
    Guide(
        "other", "Another SAML or SCIM provider",
        sso_steps=(
            "In your identity provider create a SAML 2.0 application (service provider).",
            "Give it the ACS URL and the SP entity ID below, or let it read the SP metadata URL.",
            "Sign the assertion with RSA-SHA256. " + ATTRIBUTES_NOTE,
            "Copy your IdP's metadata (its URL or XML) into step 2 here.",
        ),
        sso_labels=GENERIC_SSO_LABELS,
        metadata_hint="Your IdP's metadata URL or XML file.",
        scim_steps=(
            "In your identity provider add a SCIM 2.0 provisioning target.",
            "Give it the SCIM base URL above, and the token as an HTTP header: Authorization: Bearer <token>.",
            "Map the person's email to userName. Groups map to roles in Orgkit once an owner chooses.",
        ),
        scim_labels=GENERIC_SCIM_LABELS,
    ),
]

GUIDES_BY_KEY = {guide.key: guide for guide in GUIDES}


def guide_for(key):
    """The chosen provider's guide; the generic one when none (or an unknown one) was chosen."""
    return GUIDES_BY_KEY.get(key or "", GUIDES_BY_KEY["other"])
