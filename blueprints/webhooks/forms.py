from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from services import catalog


def _event_type_choices():
    return [t.name for t in catalog.webhook_types()]


class EndpointForm(FlaskForm):
    url = StringField("Endpoint URL", description="Where Orgkit POSTs events. Must be https:// and reachable from the internet.")
    description = StringField("Description", validators=[Length(max=200, message="Use at most 200 characters.")],
                              description="Optional: what this endpoint is for, e.g. “Sync to CRM”.")
    events = RadioField("Events to send", choices=[SelectChoice("all", "All events, including types added later"),
                                                   SelectChoice("chosen", "Only the event types I choose")], default="all")
    # Unknown names are refused by the service with a readable message, not by WTForms' choice check.
    event_types = SelectMultipleField("Event types", validate_choice=False,
                                      widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.event_types.choices = _event_type_choices()


class RotateSecretForm(FlaskForm):
    previous = RadioField("The old secret", choices=[
        SelectChoice("overlap", "Keeps signing next to the new one for a while, so receivers can switch without missing a message"),
        SelectChoice("revoke", "Stops working now (when it may have leaked)"),
    ], default="overlap")


class TestEventForm(FlaskForm):
    event_type = SelectField("Event type", validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.event_type.choices = _event_type_choices()


class RecoverForm(FlaskForm):
    since = DateTimeLocalField("Failed since (UTC)", format="%Y-%m-%dT%H:%M",
                               validators=[InputRequired("Choose a date and time.")])
