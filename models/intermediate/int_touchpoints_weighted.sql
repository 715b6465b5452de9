{#-
    Every person's touchpoints with Measure's lead-level flags and weights: one row per
    (source_system, person_id, session_id).

    A person (Marketo or CRM, from int_persons_unioned) gets the touchpoints of its email. The first touch
    is the earliest; the lead-creation (LC) touch is the latest at or before the person's created_date plus
    `lead_creation_tolerance_minutes`, and there is none when every touchpoint came later. Weights, in
    percent: first-touch model 100 on FT; lead-creation model 100 on LC; U-shape FT/LC split by the
    `u_shape_*_percentage` vars, 100 on a touchpoint that is both or on FT when there is no LC. Any other
    touchpoint (between FT and LC, or after LC) gets 0.
-#}
{{ touchpoints_weighted(ref('int_persons_unioned'), ref('int_touchpoints_by_email')) }}
