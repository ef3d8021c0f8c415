//! The fields of the collections the API lists, one row each: the wire name, what it holds,
//! which query options take it, and the column the server keeps it in. The server derives its
//! `$filter` compiler, orders, `$select`, CSV columns and upload comparisons from these tables;
//! adding a property is a row here (and its field in the wire type) plus a migration.

/// What a field holds on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    /// Text with a closed set of values (their wire names): an unknown one is a bad request.
    Enum(&'static [&'static str]),
    /// An RFC 3339 date-time.
    DateTime,
    Bool,
    /// An object made of other fields (the device's client information).
    Object,
    /// A list kept as JSON (the device's collections).
    List,
}

/// A field of a listed resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The wire name; a field of a nested object is `object/field`.
    pub name: &'static str,
    pub field_type: FieldType,
    /// The server's column; `None` for an object made of other fields.
    pub column: Option<&'static str>,
    /// `$orderby` takes it.
    pub sortable: bool,
    /// `$filter` takes it.
    pub filterable: bool,
    /// `$select` takes it (and the CSV export writes it).
    pub selectable: bool,
    /// A site sends it with each device (`SiteDevice`, same name).
    pub from_site: bool,
    /// `$search` looks for its terms in it.
    pub searched: bool,
    /// Never null.
    pub required: bool,
}

impl Field {
    /// A field kept in `column`, taken by no query option until the builders below say so.
    pub const fn new(name: &'static str, column: &'static str, field_type: FieldType) -> Self {
        Self {
            name,
            field_type,
            column: Some(column),
            sortable: false,
            filterable: false,
            selectable: false,
            from_site: false,
            searched: false,
            required: false,
        }
    }

    /// A field stored in no column of its own: an object whose children are the columns.
    pub const fn object(name: &'static str) -> Self {
        Self {
            column: None,
            ..Self::new(name, "", FieldType::Object)
        }
    }

    pub const fn text(name: &'static str, column: &'static str) -> Self {
        Self::new(name, column, FieldType::Text)
    }

    pub const fn date_time(name: &'static str, column: &'static str) -> Self {
        Self::new(name, column, FieldType::DateTime)
    }

    pub const fn one_of(
        name: &'static str,
        column: &'static str,
        values: &'static [&'static str],
    ) -> Self {
        Self::new(name, column, FieldType::Enum(values))
    }

    /// Ordered, filtered and selected: a column of the grid.
    pub const fn listed(self) -> Self {
        self.sortable().filterable().selectable()
    }

    pub const fn sortable(mut self) -> Self {
        self.sortable = true;
        self
    }

    pub const fn filterable(mut self) -> Self {
        self.filterable = true;
        self
    }

    pub const fn selectable(mut self) -> Self {
        self.selectable = true;
        self
    }

    pub const fn from_site(mut self) -> Self {
        self.from_site = true;
        self
    }

    pub const fn searched(mut self) -> Self {
        self.searched = true;
        self
    }

    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Its value in a JSON object such as a `SiteDevice`, as an SQLite JSON path.
    pub fn json_path(&self) -> String {
        format!("$.{}", self.name.replace('/', "."))
    }
}

/// The field of `fields` with this wire name.
pub fn find(fields: &'static [Field], name: &str) -> Option<&'static Field> {
    fields.iter().find(|field| field.name == name)
}
